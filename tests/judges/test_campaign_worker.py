"""Judge campaigns through real Celery worker processes on Redis, against the loopback stub.

The stub runs in this process; the workers are separate processes that reach it over loopback, read and
write the test database, and are killed with SIGKILL where the test says so. Recovery sweeps are what beat
would run (`judges.sweep`); the tests call the same service instead of running beat.
"""

from __future__ import annotations

import pytest

from arena.models import Source, Verdict
from judges.models import Campaign, FinalVerdict, Judgment
from judges.services.campaigns import CampaignSpec, campaign_start
from judges.services.lifecycle import campaign_resume
from tests.judges.conftest import SECRET, make_arena, make_judge
from tests.support.celery_worker import wait_until
from tests.support.openai_stub import OpenAIStub, position_biased

pytestmark = pytest.mark.worker

FAST_RETRIES = {
    "JUDGES_BACKOFF_BASE_MS": "50",
    "JUDGES_BACKOFF_MAX_MS": "200",
    "JUDGES_MAX_ATTEMPTS": "3",
    "JUDGES_LEASE_GRACE_SECONDS": "1",
}


def start_judge_worker(worker_factory, name="w1", concurrency=16, **env):
    return worker_factory(
        queues="judge", concurrency=concurrency, pool="threads", name=name, env={**FAST_RETRIES, **env}
    )


def campaign_of(prompt_set, contenders, *judges) -> Campaign:
    spec = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug, judges=list(judges)
    )
    return campaign_start(spec=spec)


def status_of(campaign: Campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status


def counts(campaign: Campaign) -> dict[str, int]:
    rows = Judgment.objects.filter(campaign=campaign).values_list("status", flat=True)
    return {status: list(rows).count(status) for status in set(rows)}


def test_a_campaign_of_hundreds_of_judgments_completes_with_exact_counts(worker_factory):
    prompt_set, contenders = make_arena(n_prompts=25, slugs=("alpha", "bravo", "charlie", "delta"))
    with (
        OpenAIStub(script="prefer-marker", latency=0.02) as fair,
        OpenAIStub(latency=0.02, script=position_biased("A")) as biased,
    ):
        make_judge("fair", base_url=fair.base_url, concurrency_limit=8)
        make_judge("biased", base_url=biased.base_url, concurrency_limit=8)
        start_judge_worker(worker_factory)
        campaign = campaign_of(prompt_set, contenders, "fair", "biased")
        wait_until(lambda: status_of(campaign) == "finished", timeout=120, what="the campaign to finish")
        # 6 pairs × 25 prompts = 150 battles, × 2 judges × 2 orders; every call made exactly once.
        assert counts(campaign) == {"done": 600}
        assert len(fair.requests) == len(biased.requests) == 300
        assert fair.max_concurrency <= 8 and biased.max_concurrency <= 8
    fair_source = Source.objects.get(key="judge-fair")
    assert Verdict.objects.filter(source=fair_source).count() == 150
    assert not Verdict.objects.filter(source=fair_source, inconsistent=True).exists()
    # alpha's answers carry the marker the fair judge prefers; other pairs tie.
    for verdict in Verdict.objects.filter(source=fair_source).select_related("contender_a", "contender_b"):
        expected = (
            "a"
            if verdict.contender_a.slug == "alpha"
            else "b"
            if verdict.contender_b.slug == "alpha"
            else "tie"
        )
        assert verdict.outcome == expected
    # The position-biased judge always says "A": both orders disagree, so every verdict is an inconsistent tie.
    biased_verdicts = Verdict.objects.filter(source__key="judge-biased")
    assert biased_verdicts.count() == biased_verdicts.filter(inconsistent=True, outcome="tie").count() == 150
    assert FinalVerdict.objects.filter(campaign=campaign, inconsistent=True).count() == 150


# The SIGKILL of a worker mid-campaign (recovery time, ledger of paid calls): tests/faults/test_judge_faults.py.


def test_an_outage_is_retried_then_shown_and_resuming_completes_the_campaign(worker_factory, client, staff):
    prompt_set, contenders = make_arena(n_prompts=10, slugs=("alpha", "bravo"))
    with OpenAIStub(script="prefer-marker", latency=0.01) as stub:
        make_judge("fair", base_url=stub.base_url, timeout_seconds=0.5)
        stub.inject("timeout", "reset")
        stub.set_fault_rate(1.0, "503")
        start_judge_worker(worker_factory)
        campaign = campaign_of(prompt_set, contenders, "fair")
        wait_until(
            lambda: status_of(campaign) == "finished", timeout=60, what="the outage to exhaust retries"
        )
        assert counts(campaign) == {"failed": 20}
        assert len(stub.requests) == 20 * 3  # JUDGES_MAX_ATTEMPTS each, no more
        failure = Judgment.objects.filter(campaign=campaign).first().error
        assert failure.startswith("gave up after 3 attempts; last error:")
        client.force_login(staff)
        page = client.get(f"/judges/campaigns/{campaign.pk}/").content.decode()
        assert "gave up after 3 attempts" in page and "HTTP 503" in page
        stub.set_fault_rate(0.0)
        assert campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
        wait_until(
            lambda: status_of(campaign) == "finished", timeout=60, what="the resumed campaign to finish"
        )
    assert counts(campaign) == {"done": 20}
    assert FinalVerdict.objects.filter(campaign=campaign).count() == 10


def test_a_refused_key_fails_fast_without_retries_and_says_why(worker_factory, key_env, client, staff):
    prompt_set, contenders = make_arena(n_prompts=40, slugs=("alpha", "bravo", "charlie"))
    with OpenAIStub(script="prefer-marker", latency=0.05, api_key="the-right-key") as stub:
        make_judge("fair", base_url=stub.base_url, api_key_env=key_env, concurrency_limit=4)
        start_judge_worker(worker_factory)
        campaign = campaign_of(prompt_set, contenders, "fair")
        wait_until(lambda: status_of(campaign) == "finished", timeout=60, what="the campaign to give up")
        assert counts(campaign) == {"failed": 240}
        assert len(stub.requests) <= 8, "the whole judge should stop after its first 401s"
    assert not Judgment.objects.filter(campaign=campaign, attempts__gt=1).exists()
    campaign.refresh_from_db()
    assert "HTTP 401" in campaign.last_error and "API key was refused" in campaign.last_error
    client.force_login(staff)
    assert "HTTP 401" in client.get(f"/judges/campaigns/{campaign.pk}/").content.decode()


def test_the_api_key_never_appears_in_rows_pages_logs_or_api_responses(
    worker_factory, key_env, client, staff
):
    from django.apps import apps
    from django.core import serializers

    from arena.models import ApiToken

    prompt_set, contenders = make_arena(n_prompts=6, slugs=("alpha", "bravo"))
    with OpenAIStub(script="prefer-marker", api_key=SECRET) as stub:
        make_judge("secret", base_url=stub.base_url, api_key_env=key_env)
        # Endpoints sometimes echo the key they were sent: a retried 503 and a refused request both do here.
        stub.inject({"kind": "http", "status": 503, "message": f"upstream refused key {SECRET}"},
                    {"kind": "http", "status": 400, "message": f"bad request made with {SECRET}"})  # fmt: skip
        worker = start_judge_worker(worker_factory, **{key_env: SECRET})
        campaign = campaign_of(prompt_set, contenders, "secret")
        wait_until(lambda: status_of(campaign) == "finished", timeout=60, what="the campaign to finish")
        assert {r.authorization for r in stub.requests} == {f"Bearer {SECRET}"}  # the key was used...
    assert counts(campaign) == {"done": 11, "failed": 1}
    failed = Judgment.objects.get(campaign=campaign, status="failed")
    assert "bad request made with ***" in failed.error
    # ... and is nowhere we keep or show anything.
    for model in [*apps.get_app_config("judges").get_models(), *apps.get_app_config("arena").get_models()]:
        dump = serializers.serialize("json", model.objects.all())
        assert SECRET not in dump, f"the key leaked into {model.__name__} rows"
    client.force_login(staff)
    for url in (
        "/judges/",
        f"/judges/campaigns/{campaign.pk}/",
        "/judges/configs/",
        "/judges/configs/secret/",
    ):
        assert SECRET not in client.get(url).content.decode(), url
    _, token = ApiToken.issue(user=staff, name="t")
    for url in ("/api/judges/configs", "/api/judges/campaigns", f"/api/judges/campaigns/{campaign.pk}"):
        assert SECRET not in client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").content.decode(), url
    log = "".join(worker.log)
    assert "judges.judge" in log and SECRET not in log


def test_judge_start_wait_runs_a_campaign_to_the_end_from_the_command_line(worker_factory):
    import io

    from django.core.management import call_command

    make_arena(n_prompts=5, slugs=("alpha", "bravo", "charlie"))
    with OpenAIStub(script="prefer-marker", latency=0.01) as stub:
        make_judge("fair", base_url=stub.base_url)
        start_judge_worker(worker_factory)
        out = io.StringIO()
        call_command("judge", "start", "--contenders", "alpha,bravo,charlie", "--prompt-set", "judge-set",
                     "--judge", "fair", "--wait", "--timeout", "60", stdout=out)  # fmt: skip
    assert "finished: 30/30 done" in out.getvalue()
    assert Verdict.objects.filter(source__key="judge-fair").count() == 15


def test_missing_outputs_are_generated_through_the_worker_and_shown_like_a_campaign(
    worker_factory, client, staff
):
    from arena.models import Contender, Output
    from judges.services.generation import generation_start

    prompt_set, _ = make_arena(n_prompts=6, slugs=("alpha",))
    with OpenAIStub(script="echo", latency=0.01) as stub:
        Contender.objects.create(slug="local", name="Local", status="approved", endpoint_url=stub.base_url,
                                 endpoint_model="llama3")  # fmt: skip
        start_judge_worker(worker_factory)
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        wait_until(lambda: status_of(campaign) == "finished", timeout=60, what="the generation to finish")
    assert Output.objects.filter(contender__slug="local").count() == 6
    client.force_login(staff)
    page = client.get(f"/judges/campaigns/{campaign.pk}/").content.decode()
    assert "Generate outputs" in page and 'data-testid="done">6 / 6<' in page
