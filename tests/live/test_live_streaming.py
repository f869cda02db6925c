"""A live battle's turn streams through the real ASGI server from the loopback stub, as Server-Sent Events."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from arena.models import Verdict
from live.models import LiveBattle
from live.services.battles import live_battle_start
from tests.live.conftest import make_live_contenders, signed_in_client
from tests.support import factories
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db(transaction=True)


def _events(response) -> list[tuple[str | None, dict, float]]:
    """(event, data, seconds since the request) for every event of an SSE response."""
    started, events, name = time.monotonic(), [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: ")), time.monotonic() - started))
    return events


def _session(user) -> dict[str, str]:
    return {"sessionid": signed_in_client(user).cookies["sessionid"].value}


@pytest.fixture
def battle_setup(asgi_server, settings):
    factories.fresh_rate_limits(settings)
    with OpenAIStub(script="long", token_interval=0.05) as stub:
        make_live_contenders(stub.base_url)
        user = factories.make_user("streamer")
        yield asgi_server, stub, user


def test_a_turn_streams_both_sides_piece_by_piece_then_is_stored_ready(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Why is the sky blue?")
    with httpx.stream(
        "GET", f"{server.url}/arena/b/{battle.token}/stream/", cookies=_session(user), timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
    names = [name for name, _, _ in events]
    deltas = [(data, at) for name, data, at in events if name == "delta"]
    assert names[0] == "start" and names[-1] == "end"
    assert {data["side"] for data, _ in deltas} == {"left", "right"}
    # Streamed, not buffered: the first pieces came well before the last (the stub sends 20 words a second).
    assert deltas[-1][1] - deltas[0][1] > 1.0
    assert events[-1][1] == {"state": "ready", "leak": False, "message": ""}
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.READY
    left_text = "".join(data["text"] for data, _ in deltas if data["side"] == "left")
    assert left_text == (battle.replies_a if battle.left_is_a else battle.replies_b)[0]
    assert "Why is the sky blue?" in left_text
    # Nothing sent names a contender.
    body = json.dumps([data for _, data, _ in events])
    assert "Live Model" not in body and "live-model" not in body and "stub-" not in body


def test_a_model_erroring_mid_stream_fails_its_side_and_nothing_can_be_counted(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Tell me a story.")
    stub.inject({"kind": "midstream_error", "after_tokens": 3})
    with httpx.stream(
        "GET", f"{server.url}/arena/b/{battle.token}/stream/", cookies=_session(user), timeout=30
    ) as response:
        events = _events(response)
    failed = [data for name, data, _ in events if name == "failed-side"]
    assert len(failed) == 1 and "will not count" in failed[0]["message"]
    assert "127.0.0.1" not in failed[0]["message"] and "stub-" not in failed[0]["message"]
    assert events[-1][1]["state"] == "failed"
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.FAILED
    assert "crashed" in battle.failure  # the endpoint's own words, for staff
    response = signed_in_client(user).post(f"/arena/b/{battle.token}/vote/", {"overall": "left"})
    assert response.status_code == 409
    assert "does not count" in response.content.decode()
    assert not Verdict.objects.exists()


def test_closing_the_stream_cancels_both_provider_calls_and_nothing_is_counted(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Count slowly.")
    with httpx.stream(
        "GET", f"{server.url}/arena/b/{battle.token}/stream/", cookies=_session(user), timeout=30
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"side"' in line:
                break  # a piece arrived: leave in the middle, as a closed tab does
    deadline = time.monotonic() + 10
    while stub.stats()["streams_abandoned"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stub.stats()["streams_abandoned"] == 2  # the stub saw both connections close mid-answer
    assert stub.stats()["streams_completed"] == 0
    while (
        LiveBattle.objects.get(pk=battle.pk).state == LiveBattle.State.STREAMING
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.CANCELLED
    assert battle.replies_a == [] and battle.replies_b == []
    response = signed_in_client(user).post(f"/arena/b/{battle.token}/vote/", {"overall": "left"})
    assert response.status_code == 409
    assert not Verdict.objects.exists()


def test_a_second_stream_of_the_same_turn_streams_nothing(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Once only.")
    url, cookies = f"{server.url}/arena/b/{battle.token}/stream/", _session(user)
    with httpx.stream("GET", url, cookies=cookies, timeout=30) as response:
        _events(response)
    with httpx.stream("GET", url, cookies=cookies, timeout=30) as response:
        again = _events(response)
    assert [(name, data["state"]) for name, data, _ in again] == [("end", "reload")]
    assert stub.stats()["streams_started"] == 2  # one per side, once


def test_someone_elses_stream_is_refused(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Mine.")
    other = factories.make_user("intruder")
    response = httpx.get(f"{server.url}/arena/b/{battle.token}/stream/", cookies=_session(other), timeout=30)
    assert response.status_code == 403
    assert "belongs to someone else" in response.text
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING
    assert stub.stats()["requests"] == 0


def _refused_untouched(battle, stub) -> None:
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING
    assert stub.stats()["requests"] == 0


def test_a_stream_of_an_unknown_battle_is_not_found(battle_setup):
    server, stub, user = battle_setup
    response = httpx.get(f"{server.url}/arena/b/NoSuchBattle0123/stream/", cookies=_session(user), timeout=30)
    assert response.status_code == 404
    assert "Unknown live battle" in response.text
    assert stub.stats()["requests"] == 0


def test_a_stream_without_a_session_is_refused(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Mine.")
    response = httpx.get(f"{server.url}/arena/b/{battle.token}/stream/", timeout=30)
    assert response.status_code == 403
    assert "Sign in" in response.text
    _refused_untouched(battle, stub)


def test_a_session_from_before_a_password_change_opens_no_stream(battle_setup):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Mine.")
    stolen = _session(user)
    user.set_password("a-new-password-9")  # Django's session hash check of auth.get_user ends old sessions
    user.save()
    response = httpx.get(f"{server.url}/arena/b/{battle.token}/stream/", cookies=stolen, timeout=30)
    assert response.status_code == 403
    assert "Sign in" in response.text
    _refused_untouched(battle, stub)


def test_a_stream_for_a_host_not_allowed_is_a_bad_request(battle_setup, settings):
    server, stub, user = battle_setup
    battle = live_battle_start(voter=factories.voter_of(user), text="Mine.")
    settings.ALLOWED_HOSTS = ["arena.example.org"]
    response = httpx.get(f"{server.url}/arena/b/{battle.token}/stream/", cookies=_session(user), timeout=30)
    assert response.status_code == 400
    _refused_untouched(battle, stub)
