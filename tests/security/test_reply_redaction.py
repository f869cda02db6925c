"""A key echoed inside a *successful* reply is redacted before anything is stored or shown, like error texts.

Through the loopback OpenAI-compatible stub and the real client: the judge's reply (and a contender endpoint's
generated answer) carries the very key the server was sent.
"""

from __future__ import annotations

import json

import pytest

from arena.models import Output
from judges.models import Generation, Judgment
from judges.services.generation import generation_run, generation_start
from tests.judges.conftest import KEY_ENV, SECRET, make_arena, make_judge, run_inline, start_campaign
from tests.judges.test_generation import endpoint_contender
from tests.support.openai_stub import MARKER, OpenAIStub, _verdict_json

pytestmark = pytest.mark.django_db


def _echoing_judge(body) -> str:
    verdict = _verdict_json(body, "A", f"I was called with the key {SECRET}")
    return f"{verdict}\nAuthorization: Bearer {SECRET}"


def test_a_judge_reply_echoing_the_key_is_stored_redacted(monkeypatch, client, staff):
    monkeypatch.setenv(KEY_ENV, SECRET)
    prompt_set, contenders = make_arena(n_prompts=2)
    with OpenAIStub(script=_echoing_judge, api_key=SECRET) as stub:
        make_judge("echoer", base_url=stub.base_url, api_key_env=KEY_ENV)
        campaign = start_campaign(prompt_set, contenders[:2], "echoer")
        assert set(run_inline(campaign)) == {"done"}
        assert stub.requests and all(r.authorization == f"Bearer {SECRET}" for r in stub.requests)
    judgments = list(Judgment.objects.filter(campaign=campaign))
    assert judgments
    for judgment in judgments:
        stored = json.dumps(
            [judgment.raw_text, judgment.repair_raw_text, judgment.rationale, judgment.raw_response]
        )
        assert SECRET not in stored
        assert "Authorization: Bearer ***" in judgment.raw_text
        assert judgment.rationale == "I was called with the key ***"
    client.force_login(staff)
    assert SECRET not in client.get(f"/judges/campaigns/{campaign.pk}/").content.decode()


def test_a_generated_answer_echoing_the_key_is_stored_redacted(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    prompt_set, _ = make_arena(n_prompts=2, slugs=("alpha",))
    with OpenAIStub(script=lambda body: f"My answer {MARKER}; my key is {SECRET}", api_key=SECRET) as stub:
        endpoint_contender("local", stub.base_url, endpoint_api_key_env=KEY_ENV)
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        ids = list(Generation.objects.filter(campaign=campaign).values_list("pk", flat=True))
        assert [generation_run(generation_id=pk).outcome for pk in ids] == ["done", "done"]
    texts = list(Output.objects.filter(contender__slug="local").values_list("text", flat=True))
    assert texts == [f"My answer {MARKER}; my key is ***"] * 2
    for generation in Generation.objects.filter(campaign=campaign):
        assert SECRET not in json.dumps([generation.raw_text, generation.raw_response])
