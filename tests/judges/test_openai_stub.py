"""The loopback OpenAI-compatible stub itself: protocol shape, scripts, faults, control, process mode."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from judges.prompting import DEFAULT_TEMPLATE, render_judge_messages
from judges.verdict_parsing import parse_verdicts
from tests.support.openai_stub import (
    MARKER,
    Fault,
    OpenAIStub,
    answer_generator,
    control_stub,
    fixed_verdicts,
    position_biased,
    prefer_longer,
    prefer_marker,
    stub_stats,
)

ROOT = Path(__file__).resolve().parents[2]
DIMENSIONS = [("overall", "better overall"), ("clarity", "clearer")]


def judge_body(answer_a, answer_b, model="judge"):
    messages = render_judge_messages(
        DEFAULT_TEMPLATE, question="2+2?", answer_a=answer_a, answer_b=answer_b, dimensions=DIMENSIONS
    )
    return {"model": model, "messages": messages}


# One client for the module: building an httpx client per request costs ~50 ms (TLS context set-up).
HTTP = httpx.Client(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def _close_http_client():
    yield
    HTTP.close()


def post(stub, body, path="/chat/completions"):
    return HTTP.post(stub.base_url + path, json=body)


def content(reply):
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


@pytest.fixture
def stub():
    with OpenAIStub() as server:
        yield server


def test_a_completion_has_the_openai_shape(stub):
    body = {"model": "m1", "messages": [{"role": "user", "content": "two words"}]}
    reply = post(stub, body).json()
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "m1"
    assert reply["id"].startswith("chatcmpl-")
    assert isinstance(reply["created"], int)
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["prompt_tokens"] == 2
    assert (
        reply["usage"]["total_tokens"]
        == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]
    )


def test_it_lists_models(stub):
    stub.models = ["a", "b"]
    reply = HTTP.get(stub.base_url + "/models").json()
    assert [m["id"] for m in reply["data"]] == ["a", "b"]


def test_unknown_routes_and_bad_bodies_get_openai_shaped_errors(stub):
    assert HTTP.get(stub.base_url + "/nothing").json()["error"]["type"] == "invalid_request_error"
    reply = HTTP.post(stub.base_url + "/chat/completions", content=b"not json")
    assert reply.status_code == 400
    assert post(stub, {"messages": []}).json()["error"]["message"] == "'model' and 'messages' are required."


def test_faults_are_served_in_order_then_normal_replies_resume(stub):
    stub.inject({"kind": "http", "status": 429, "retry_after": 3}, "404", "garbage", "garbage_content")
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    first = post(stub, body)
    assert (first.status_code, first.headers["retry-after"]) == (429, "3")
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert post(stub, body).json()["error"]["code"] == "model_not_found"
    with pytest.raises(json.JSONDecodeError):
        post(stub, body).json()
    assert "no verdict" in content(post(stub, body))
    assert content(post(stub, body)).startswith("[m]")
    assert stub.stats()["faults_served"] == 4


def test_a_fault_rate_is_reproducible_with_a_seed(stub):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    def pattern():
        stub.set_fault_rate(0.5, "503", seed=7)
        return [post(stub, body).status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {200, 503}
    assert pattern() == first


def test_unknown_faults_are_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("meltdown")
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse({"kind": "meltdown"})


def test_prefer_marker_follows_the_marker_in_either_position(stub):
    stub.script = prefer_marker()
    first = parse_verdicts(content(post(stub, judge_body(f"4 {MARKER}", "5"))), ["overall", "clarity"])
    swapped = parse_verdicts(content(post(stub, judge_body("5", f"4 {MARKER}"))), ["overall", "clarity"])
    assert first.verdicts == {"overall": "A", "clarity": "A"}
    assert swapped.verdicts == {"overall": "B", "clarity": "B"}
    assert json.loads(content(post(stub, judge_body("4", "5"))))["verdicts"]["overall"] == "tie"


def test_position_biased_and_length_biased_judges(stub):
    stub.script = position_biased("A")
    assert json.loads(content(post(stub, judge_body("5", f"4 {MARKER}"))))["verdicts"]["overall"] == "A"
    stub.script = prefer_longer()
    assert (
        json.loads(content(post(stub, judge_body("short", "much longer answer"))))["verdicts"]["clarity"]
        == "B"
    )


def test_fixed_verdicts_per_dimension(stub):
    stub.script = fixed_verdicts({"clarity": "B"})
    assert json.loads(content(post(stub, judge_body("x", "y"))))["verdicts"] == {
        "overall": "tie",
        "clarity": "B",
    }


def test_a_judge_script_refuses_a_prompt_without_answers(stub):
    stub.script = prefer_marker()
    reply = post(stub, {"model": "m", "messages": [{"role": "user", "content": "no answers here"}]})
    assert reply.status_code == 400
    assert "stub script" in reply.json()["error"]["message"]


def test_the_answer_generator_names_the_model_and_marks_chosen_ones(stub):
    stub.script = answer_generator(marked_models=["strong"])
    ask = [{"role": "user", "content": "What is 2+2?"}]
    assert content(post(stub, {"model": "weak", "messages": ask})) == "[weak] answer to: What is 2+2?"
    assert content(post(stub, {"model": "strong", "messages": ask})).endswith(MARKER)


def test_it_records_bodies_keys_and_the_concurrency_high_water_mark(stub):
    # A full second per reply: long enough for 32 client threads to start and connect even on a loaded
    # machine, so they overlap; the high-water mark must still see at least three quarters of them at once.
    stub.latency = 1.0
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with ThreadPoolExecutor(max_workers=32) as pool:
        replies = list(pool.map(lambda _: post(stub, body), range(32)))
    assert {r.status_code for r in replies} == {200}
    assert len(stub.requests) == 32
    assert stub.requests[0].body == body
    assert stub.max_concurrency >= 24
    # The handler leaves "in flight" just after the client has its reply, so give it a moment.
    deadline = time.monotonic() + 2
    while stub.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub.stats()["in_flight"] == 0


def test_stop_is_quick_even_while_a_request_hangs_on_a_timeout_fault():
    stub = OpenAIStub().start()
    stub.inject("timeout")
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(stub.base_url + "/chat/completions", json={"model": "m", "messages": []}, timeout=0.2)
    started = time.monotonic()
    stub.stop()
    assert time.monotonic() - started < 1


def test_control_endpoint_reconfigures_a_running_stub(stub):
    stats = control_stub(stub.base_url, script="position-biased", latency=0.01, faults=["500"])
    assert stats["faults_pending"] == 1
    assert stats["latency"] == 0.01
    assert post(stub, judge_body("x", "y")).status_code == 500
    assert json.loads(content(post(stub, judge_body("x", "y"))))["verdicts"]["overall"] == "A"
    control_stub(stub.base_url, reset=True, script="prefer-marker", script_args={"marker": "GOLD"})
    assert json.loads(content(post(stub, judge_body("x", "y GOLD"))))["verdicts"]["overall"] == "B"
    assert stub_stats(stub.base_url)["requests"] == 1


def test_a_bad_control_payload_is_a_400(stub):
    with pytest.raises(httpx.HTTPStatusError):
        HTTP.post(stub.base_url.removesuffix("/v1") + "/_control", json={"script": "nope"}).raise_for_status()


def test_it_runs_as_a_separate_process():
    command = [
        sys.executable,
        "-m",
        "tests.support.openai_stub",
        "--script",
        "position-biased",
        "--fault",
        "503",
    ]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            ready, base_url = process.stdout.readline().split()
            assert ready == "READY"
            body = judge_body("x", "y")
            assert HTTP.post(base_url + "/chat/completions", json=body).status_code == 503
            reply = HTTP.post(base_url + "/chat/completions", json=body).json()
            assert json.loads(reply["choices"][0]["message"]["content"])["verdicts"]["overall"] == "A"
            assert stub_stats(base_url)["requests"] == 2
        finally:
            process.terminate()
        assert process.wait(timeout=5) == 0
