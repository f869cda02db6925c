"""`manage.py judge` and `manage.py demo_campaign`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from arena.demo.loader import demo_load
from arena.models import Verdict
from judges.models import Campaign, FinalVerdict, JudgeConfig, Judgment
from tests.judges.conftest import make_arena, make_judge, run_inline

pytestmark = pytest.mark.django_db


def judge(*args) -> str:
    out = io.StringIO()
    call_command("judge", *args, stdout=out)
    return out.getvalue()


def test_configs_estimate_start_status_pause_resume_cancel(stub, monkeypatch):
    make_arena(n_prompts=2, slugs=("alpha", "bravo", "charlie"))
    make_judge("fair", base_url=stub.base_url, api_key_env="SOME_KEY_VAR")
    assert "fair" in judge("configs") and "key=env:SOME_KEY_VAR" in judge("configs")
    common = [
        "--contenders",
        "alpha,bravo",
        "--contenders",
        "charlie",
        "--prompt-set",
        "judge-set",
        "--judge",
        "fair",
    ]
    monkeypatch.setenv("SOME_KEY_VAR", "x")
    assert judge("estimate", *common).startswith("12 calls (0 from the reuse cache, 0 already judged)")
    started = judge("start", *common, "--name", "from the shell")
    campaign = Campaign.objects.get(name="from the shell")
    assert started.startswith(f"Campaign {campaign.pk} started")
    assert "running: 0/12 done, 12 pending" in judge("status", str(campaign.pk))
    assert "now paused" in judge("pause", str(campaign.pk))
    assert "nothing to do" in judge("pause", str(campaign.pk))
    assert "now running" in judge("resume", str(campaign.pk))
    status = json.loads(judge("status", str(campaign.pk), "--json"))
    assert status["progress"]["pending"] == 12 and status["judges"] == ["fair v1"]
    assert "now cancelled" in judge("cancel", str(campaign.pk))


def test_status_names_the_failures(stub):
    stub.models = ["real"]
    make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("typo", base_url=stub.base_url, model="fake")
    judge("start", "--contenders", "alpha,bravo", "--prompt-set", "judge-set", "--judge", "typo")
    campaign = Campaign.objects.get()
    run_inline(campaign)
    text = judge("status", str(campaign.pk))
    assert "2 failed" in text and "HTTP 404" in text and "stopped a judge" in text


def test_demo_campaign_runs_offline_judges_to_the_end_and_is_idempotent():
    from tests.judges.conftest import ensure_dimensions

    ensure_dimensions()
    demo_load()
    out = io.StringIO()
    call_command("demo_campaign", stdout=out)
    campaign = Campaign.objects.get()
    assert campaign.status == "finished" and "finished" in out.getvalue()
    assert set(JudgeConfig.objects.values_list("provider", flat=True)) == {"lexical"}
    judgments = Judgment.objects.filter(campaign=campaign)
    assert judgments.count() > 0 and set(judgments.values_list("status", flat=True)) == {"done"}
    n_verdicts = Verdict.objects.filter(source__kind="judge").count()
    assert n_verdicts == FinalVerdict.objects.count() > 0
    call_command("demo_campaign", stdout=io.StringIO())
    assert (
        Campaign.objects.count() == 1 and Verdict.objects.filter(source__kind="judge").count() == n_verdicts
    )
