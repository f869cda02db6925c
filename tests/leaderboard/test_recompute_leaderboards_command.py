"""`manage.py recompute_leaderboards`: synchronous by default (the demo's last step), or through the workers."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from arena.management.commands.demo import DEMO_STEPS
from leaderboard.models import RecomputeRun, RecomputeState
from leaderboard.services import coalescing
from tests.leaderboard.arena_data import arena_make, verdicts_add

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("recompute_leaderboards", *args, stdout=out)
    return out.getvalue()


def test_it_recomputes_here_by_default():
    arena = arena_make()
    verdicts_add(arena.battles, seed=1)

    out = run()

    done = RecomputeRun.objects.get()
    assert done.status == "done" and done.trigger == "cli"
    assert f"Run #{done.pk}: 3 leaderboards (0 not fitted) from {done.n_verdicts} verdicts" in out


def test_enqueue_sends_the_task_and_returns(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(coalescing, "_send", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        out = run("--enqueue")

    assert out.strip() == "Recompute requested: queued." and sent == ["cli"]
    assert not RecomputeRun.objects.exists()


def test_wait_gives_up_with_advice_when_no_worker_runs(monkeypatch):
    monkeypatch.setattr(coalescing, "_send", lambda trigger: None)

    with pytest.raises(CommandError, match="is a Celery worker consuming the 'ratings' queue"):
        run("--wait", "--timeout", "1")


def test_sync_waits_for_a_recompute_running_elsewhere(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    RecomputeState.objects.create(pk=1, holder="elsewhere", lease_until=timezone.now() + timedelta(minutes=5))

    with pytest.raises(CommandError, match="No recompute finished within 1 s"):
        run("--timeout", "1")
    assert RecomputeState.objects.get().dirty  # the running one was asked to run once more


def test_it_is_the_last_demo_step():
    assert DEMO_STEPS[-1] == "recompute_leaderboards"
