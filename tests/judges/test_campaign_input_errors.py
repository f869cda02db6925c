"""Bad campaign requests are refused the same way by the page, the API and the CLI, and create nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from arena.models import ApiToken, Battle
from judges.models import Campaign, JudgeConfig, Judgment
from tests.judges.conftest import make_arena, make_judge

pytestmark = pytest.mark.django_db

ENV = "ARENA_TEST_UNSET_JUDGE_KEY"


@pytest.fixture
def campaign_inputs(monkeypatch):
    """Contenders alpha, bravo and charlie on `judge-set`, and the judges the payloads name: good, keyless, broken."""
    monkeypatch.delenv(ENV, raising=False)
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo", "charlie"))
    make_judge("good", base_url="http://127.0.0.1:9/v1")
    make_judge("keyless", base_url="http://127.0.0.1:9/v1", api_key_env=ENV)
    bad = make_judge("broken", base_url="http://127.0.0.1:9/v1")
    JudgeConfig.objects.filter(pk=bad.pk).update(template="Judge this: {answer_a} / {answer_b} {verdict}")
    return prompt_set


CASES = [
    pytest.param({"contenders": ["alpha"]}, "at least 2 contender", id="one-contender"),
    pytest.param({"contenders": ["alpha", "zulu"]}, "Unknown contender(s): zulu", id="unknown-contender"),
    pytest.param({"judges": ["nope"]}, "No judge config 'nope'", id="unknown-judge"),
    pytest.param({"judges": []}, "at least one judge config", id="no-judge"),
    pytest.param(
        {"judges": ["broken"]}, "invalid template: line 1: unknown placeholder {verdict}", id="bad-template"
    ),
    pytest.param({"judges": ["keyless"]}, f"environment variable {ENV}, which is not set", id="missing-key"),
    pytest.param({"plan": "round-robin"}, "Unknown pairing plan 'round-robin'", id="unknown-plan"),
    pytest.param({"plan": "baseline"}, "needs a baseline among the contenders", id="no-baseline"),
    pytest.param({"prompt_set": "nope"}, "No prompt set with slug 'nope'", id="unknown-prompt-set"),
]


def payload(**changes) -> dict:
    return {"contenders": ["alpha", "bravo"], "prompt_set": "judge-set", "judges": ["good"], **changes}


def assert_nothing_created(battles_before: int) -> None:
    assert not Campaign.objects.exists() and not Judgment.objects.exists()
    assert Battle.objects.count() == battles_before


@pytest.mark.parametrize(("changes", "message"), CASES)
def test_the_api_answers_4xx_with_the_reason_and_creates_nothing(
    campaign_inputs, client, staff, changes, message
):
    _, token = ApiToken.issue(user=staff, name="cli")
    before = Battle.objects.count()
    for path in ("/api/judges/campaigns/estimate", "/api/judges/campaigns"):
        reply = client.post(
            path, payload(**changes), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert 400 <= reply.status_code < 500 and message in reply.json()["error"], reply.content
    assert_nothing_created(before)


@pytest.mark.parametrize(("changes", "message"), CASES)
def test_the_command_raises_a_command_error_with_the_reason_and_creates_nothing(
    campaign_inputs, changes, message
):
    data = payload(**changes)
    args = ["start", "--prompt-set", data["prompt_set"], "--plan", data.get("plan", "all-pairs")]
    args += ["--contenders", ",".join(data["contenders"])]
    args += ["--judge", ",".join(data["judges"]) or ","]
    before = Battle.objects.count()
    with pytest.raises(CommandError, match=_escaped(message)):
        call_command("judge", *args)
    assert_nothing_created(before)


@pytest.mark.parametrize(("changes", "message"), CASES[:6])
def test_the_page_shows_the_reason_and_creates_nothing(campaign_inputs, client, staff, changes, message):
    client.force_login(staff)
    data = payload(**changes)
    form = {"kind": "judge", "prompt_set": data["prompt_set"], "contenders": data["contenders"],
            "judges": data["judges"], "plan": "all-pairs", "k": 1, "seed": 0, "action": "start"}  # fmt: skip
    before = Battle.objects.count()
    reply = client.post("/judges/campaigns/new/", form)
    assert reply.status_code == 400
    page = reply.content.decode()
    assert (
        message.split("'")[0].replace("(s)", "") in page.replace("(s)", "") or "Select a valid choice" in page
    )
    assert_nothing_created(before)


def test_a_non_staff_token_is_refused(campaign_inputs, client, alice):
    _, token = ApiToken.issue(user=alice, name="cli")
    reply = client.post(
        "/api/judges/campaigns",
        payload(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert reply.status_code == 403 and "staff" in reply.json()["error"]
    assert client.get("/api/judges/configs").status_code == 401
    assert not Campaign.objects.exists()


def _escaped(message: str) -> str:
    import re

    return re.escape(message)
