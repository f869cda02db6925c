"""Every bad upload of issue #2 is refused whole, with a message naming the line and reason, via the
service's three ways in (page, API, CLI); the database is left exactly as it was."""

from __future__ import annotations

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from arena.models import ApiToken, Contender, Output, Prompt
from tests.support import factories

GOOD = b'{"prompt_id": "p1", "output": "fine answer"}\n'

# (case id, file bytes, fragment the error must contain). Each bad file starts with a valid line, so a
# partial write would show up as one stored output.
BAD_FILES = [
    ("malformed-json", GOOD + b'{"prompt_id": "p2", "output": "unclosed\n', "line 2: malformed JSON"),
    ("not-an-object", GOOD + b'["p2", "x"]\n', "line 2: expected a JSON object"),
    ("unknown-prompt", GOOD + b'{"prompt_id": "nope", "output": "x"}\n', "line 2: unknown prompt id 'nope'"),
    ("unknown-prompt-text", GOOD + b'{"prompt": "Who wrote this?", "output": "x"}\n', "line 2: no prompt in set"),
    ("same-prompt-twice", GOOD + b'{"prompt_id": "p1", "output": "again"}\n', "line 2: prompt 'p1' was already answered at line 1"),
    ("empty-output", GOOD + b'{"prompt_id": "p2", "output": "   "}\n', "line 2: the output for prompt 'p2' is empty"),
    ("missing-output", GOOD + b'{"prompt_id": "p2"}\n', "line 2: missing field 'output'"),
    ("wrong-encoding", GOOD + '{"prompt_id": "p2", "output": "caf\u00e9"}\n'.encode("latin-1"), "line 2: the file is not valid UTF-8"),
    ("empty-file", b"  \n", "the file is empty"),
    ("alpaca-not-list", b'{"instruction": "Question number 1?", "output": "x"}', "line 1"),  # one object is JSONL line 1 missing prompt
    ("alpaca-wrong-generator", json.dumps([{"instruction": "Question number 1?", "output": "x", "generator": "other-model"}]).encode(), "record 1: generator 'other-model' is not contender"),
]  # fmt: skip


@pytest.fixture
def owner_setup(db, alice, prompt_set):
    contender = factories.make_contender("my-model", status=Contender.Status.PENDING, user=alice)
    return contender, prompt_set


def _counts():
    return Output.objects.count(), Prompt.objects.count(), Contender.objects.count()


@pytest.mark.parametrize(("case", "data", "fragment"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_cli_refuses_bad_file_and_writes_nothing(owner_setup, tmp_path, case, data, fragment):
    path = tmp_path / "outputs.jsonl"
    path.write_bytes(data)
    before = _counts()
    with pytest.raises(CommandError) as err:
        call_command("import_outputs", str(path), contender="my-model", prompt_set="demo-set")
    assert fragment in str(err.value)
    assert _counts() == before


@pytest.mark.parametrize(("case", "data", "fragment"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_api_refuses_bad_file_with_json_4xx(owner_setup, client, alice, case, data, fragment):
    _, token = ApiToken.issue(user=alice, name="t")
    before = _counts()
    response = client.post(
        "/api/contenders/my-model/outputs",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("outputs.jsonl", data)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert 400 <= response.status_code < 500
    assert fragment in response.json()["error"]
    assert _counts() == before


@pytest.mark.parametrize(("case", "data", "fragment"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_page_shows_error_and_writes_nothing(owner_setup, alice_client, case, data, fragment):
    before = _counts()
    response = alice_client.post(
        "/contenders/my-model/upload/",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("outputs.jsonl", data)},
    )
    assert response.status_code == 400
    assert fragment in html.unescape(response.content.decode())
    assert _counts() == before


def test_file_over_size_limit_is_refused_everywhere(
    owner_setup, settings, tmp_path, client, alice_client, alice
):
    settings.ARENA_MAX_UPLOAD_BYTES = 100
    data = b"".join(b'{"prompt_id": "p%d", "output": "%s"}\n' % (i, b"x" * 40) for i in (1, 2, 3))
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    before = _counts()
    with pytest.raises(CommandError, match="over the upload limit of 100 bytes"):
        call_command("import_outputs", str(path), contender="my-model", prompt_set="demo-set")
    _, token = ApiToken.issue(user=alice, name="t")
    api = client.post(
        "/api/contenders/my-model/outputs",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("big.jsonl", data)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 413
    assert "over the upload limit" in api.json()["error"]
    page = alice_client.post(
        "/contenders/my-model/upload/",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("big.jsonl", data)},
    )
    assert "over the upload limit of 100 bytes" in html.unescape(page.content.decode())
    assert _counts() == before


def test_unknown_contender_or_prompt_set(owner_setup, tmp_path, client, alice):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(GOOD)
    before = _counts()
    with pytest.raises(CommandError, match="No contender with slug 'ghost'"):
        call_command("import_outputs", str(path), contender="ghost", prompt_set="demo-set")
    with pytest.raises(CommandError, match="No prompt set with slug 'ghost-set'"):
        call_command("import_outputs", str(path), contender="my-model", prompt_set="ghost-set")
    _, token = ApiToken.issue(user=alice, name="t")
    auth = {"Authorization": f"Bearer {token}"}
    missing_set = client.post(
        "/api/contenders/my-model/outputs",
        {"prompt_set": "ghost-set", "file": SimpleUploadedFile("a.jsonl", GOOD)},
        headers=auth,
    )
    assert missing_set.status_code == 404
    assert "No prompt set with slug 'ghost-set'" in missing_set.json()["error"]
    missing_contender = client.post(
        "/api/contenders/ghost/outputs",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("a.jsonl", GOOD)},
        headers=auth,
    )
    assert missing_contender.status_code == 404
    assert missing_contender.json()["error"]
    assert _counts() == before


def test_outputs_already_stored_cannot_be_replaced(owner_setup, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(GOOD)
    call_command("import_outputs", str(path), contender="my-model", prompt_set="demo-set")
    path.write_bytes(b'{"prompt_id": "p2", "output": "new"}\n' + GOOD)
    with pytest.raises(
        CommandError, match="line 2: contender 'my-model' already has an output for prompt 'p1'"
    ):
        call_command("import_outputs", str(path), contender="my-model", prompt_set="demo-set")
    assert list(Output.objects.values_list("prompt__external_id", "text")) == [("p1", "fine answer")]


def test_nonexistent_file_is_a_clear_cli_error(owner_setup, tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.jsonl"):
        call_command(
            "import_outputs", str(tmp_path / "missing.jsonl"), contender="my-model", prompt_set="demo-set"
        )


# Three bad lines around a good one: every problem is named, with its line, and nothing is written.
SEVERAL = (
    b'{"prompt_id": "p1", "output": "fine"}\n'
    b'{"prompt_id": "p2", "output": "unclosed\n'
    b'{"prompt_id": "nope", "output": "x"}\n'
    b'{"prompt_id": "p3", "output": "  "}\n'
)
SEVERAL_PROBLEMS = (
    "line 2: malformed JSON",
    "line 3: unknown prompt id 'nope'",
    "line 4: the output for prompt 'p3' is empty",
)


def test_cli_lists_every_problem_of_the_file(owner_setup, tmp_path):
    path = tmp_path / "outputs.jsonl"
    path.write_bytes(SEVERAL)
    before = _counts()
    with pytest.raises(CommandError) as err:
        call_command("import_outputs", str(path), contender="my-model", prompt_set="demo-set")
    assert "3 problems, so nothing was imported" in str(err.value)
    assert all(problem in str(err.value) for problem in SEVERAL_PROBLEMS)
    assert _counts() == before


def test_api_lists_every_problem_of_the_file(owner_setup, client, alice):
    _, token = ApiToken.issue(user=alice, name="t")
    before = _counts()
    response = client.post(
        "/api/contenders/my-model/outputs",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("outputs.jsonl", SEVERAL)},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert response.status_code == 400 and len(body["problems"]) == 3
    assert all(problem in line for problem, line in zip(SEVERAL_PROBLEMS, body["problems"], strict=True))
    assert _counts() == before


def test_page_lists_every_problem_of_the_file_one_a_line(owner_setup, alice_client):
    before = _counts()
    response = alice_client.post(
        "/contenders/my-model/upload/",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("outputs.jsonl", SEVERAL)},
    )
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    for problem in SEVERAL_PROBLEMS:
        assert f"<p>outputs.jsonl, {problem}" in page
    assert _counts() == before


def test_past_the_cap_the_message_counts_the_problems_left_out(owner_setup, tmp_path):
    from arena.services.uploads import MAX_PROBLEMS

    extra = 7
    data = b"".join(b'{"prompt_id": "nope%d", "output": "x"}\n' % i for i in range(MAX_PROBLEMS + extra))
    path = tmp_path / "outputs.jsonl"
    path.write_bytes(data)
    before = _counts()
    with pytest.raises(CommandError) as err:
        call_command("import_outputs", str(path), contender="my-model", prompt_set="demo-set")
    message = str(err.value)
    assert f"{MAX_PROBLEMS + extra} problems" in message
    assert f"line {MAX_PROBLEMS}: unknown prompt id" in message
    assert f"line {MAX_PROBLEMS + 1}:" not in message
    assert f"... and {extra} more problems not listed." in message
    assert _counts() == before


def test_an_already_answered_prompt_is_listed_with_the_others(owner_setup, tmp_path):
    contender, prompt_set = owner_setup
    first = tmp_path / "first.jsonl"
    first.write_bytes(GOOD)
    call_command("import_outputs", str(first), contender="my-model", prompt_set="demo-set")
    again = tmp_path / "again.jsonl"
    again.write_bytes(
        b'{"prompt_id": "p2", "output": "new"}\n{"prompt_id": "p1", "output": "again"}\n{"prompt_id": "p3", "output": "new"}\n'
    )
    before = _counts()
    with pytest.raises(CommandError) as err:
        call_command("import_outputs", str(again), contender="my-model", prompt_set="demo-set")
    assert "line 2: contender 'my-model' already has an output for prompt 'p1'" in str(err.value)
    assert _counts() == before and contender.outputs.get().text == "fine answer"
