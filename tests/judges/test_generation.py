"""Generating missing outputs from contenders' endpoints, through the same provider layer and claims."""

from __future__ import annotations

import pytest

from arena.errors import Invalid
from arena.models import Contender, Output
from arena.services.style import style_counts
from judges.models import Campaign, Generation
from judges.services.generation import generation_run, generation_start
from judges.services.progress import campaign_progress
from tests.judges.conftest import KEY_ENV, SECRET, make_arena
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db


def endpoint_contender(slug: str, base_url: str, **extra) -> Contender:
    return Contender.objects.create(
        slug=slug,
        name=slug.title(),
        status="approved",
        endpoint_url=base_url,
        endpoint_model=f"{slug}-model",
        **extra,
    )


def run_generations(campaign) -> list[str]:
    ids = Generation.objects.filter(campaign=campaign, status="pending").values_list("pk", flat=True)
    return [generation_run(generation_id=pk).outcome for pk in list(ids)]


def test_missing_outputs_are_generated_stored_with_style_counts_and_counted(key_env):
    prompt_set, _ = make_arena(n_prompts=3, slugs=("alpha",))
    with OpenAIStub(script="echo", api_key=SECRET) as stub:
        local = endpoint_contender("local", stub.base_url, endpoint_api_key_env=KEY_ENV)
        Output.objects.create(contender=local, prompt=prompt_set.prompts.first(), text="already here")
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        assert campaign.est_calls == 2
        assert run_generations(campaign) == ["done", "done"]
        assert all(r.authorization == f"Bearer {SECRET}" for r in stub.requests)
    outputs = Output.objects.filter(contender=local).exclude(text="already here")
    assert outputs.count() == 2
    for output in outputs:
        assert output.text.startswith("[local-model] answer to: Question number")
        assert output.n_chars == style_counts(output.text)["n_chars"]
    campaign.refresh_from_db()
    progress = campaign_progress(campaign=campaign)
    assert campaign.status == "finished" and progress.done == 2 and progress.tokens_in > 0


def test_an_endpoint_that_refuses_the_model_fails_its_generations_with_the_reason():
    prompt_set, _ = make_arena(n_prompts=3, slugs=("alpha",))
    with OpenAIStub(script="echo", models=["other"]) as stub:
        endpoint_contender("local", stub.base_url)
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        assert run_generations(campaign)[0] == "failed"
        assert len(stub.requests) == 1
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.status == "finished" and "HTTP 404" in campaign.last_error
    assert set(Generation.objects.values_list("status", flat=True)) == {"failed"}


def test_failed_generations_taken_over_by_a_new_campaign_are_pending_without_a_finished_at():
    prompt_set, _ = make_arena(n_prompts=2, slugs=("alpha",))
    with OpenAIStub(script="echo", models=["other"]) as stub:
        endpoint_contender("local", stub.base_url)
        first = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        assert run_generations(first)[0] == "failed"
        again = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
    rows = set(Generation.objects.values_list("campaign_id", "status", "finished_at"))
    assert rows == {(again.pk, "pending", None)}


def test_a_generation_request_needs_an_endpoint_and_its_key(monkeypatch):
    monkeypatch.delenv("ARENA_TEST_MISSING_KEY", raising=False)
    prompt_set, _ = make_arena(n_prompts=1, slugs=("alpha",))
    with pytest.raises(Invalid, match="has no endpoint"):
        generation_start(contender_slugs=["alpha"], prompt_set_slug=prompt_set.slug)
    endpoint_contender("keyed", "http://127.0.0.1:9/v1", endpoint_api_key_env="ARENA_TEST_MISSING_KEY")
    with pytest.raises(Invalid, match="ARENA_TEST_MISSING_KEY, which is not set"):
        generation_start(contender_slugs=["keyed"], prompt_set_slug=prompt_set.slug)
    assert not Campaign.objects.exists()
