"""Recomputes through a real Celery worker on the "ratings" queue: API requests, the beat task, the CLI."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from arena.models import ApiToken
from leaderboard.models import RecomputeRun
from leaderboard.services.coalescing import recompute_status
from tests.leaderboard.arena_data import arena_make, verdicts_add
from tests.support import factories
from tests.support.celery_worker import wait_until

pytestmark = pytest.mark.worker
QUICK = {"LEADERBOARD_BOOTSTRAP_ROUNDS": "20", "LEADERBOARD_MIN_VERDICTS": "5"}


def idle_after(count: int) -> bool:
    state = recompute_status()
    finished = RecomputeRun.objects.exclude(status="running").count() >= count
    return finished and not state.holder and state.queued_at is None


def test_api_requests_are_recomputed_by_a_worker_and_coalesced(worker_factory):
    arena = arena_make()
    verdicts_add(arena.battles, seed=1)
    _, token = ApiToken.issue(user=factories.make_user("boss", is_staff=True), name="t")
    client = Client()

    # All ten arrive before any worker runs (a recompute of this arena takes well under a second, so with a
    # worker already up a request could land after the first run finished and rightly queue a second).
    answers = [
        client.post("/api/leaderboard/recompute", headers={"Authorization": f"Bearer {token}"}).json()[
            "status"
        ]
        for _ in range(10)
    ]
    assert answers[0] == "queued" and set(answers[1:]) <= {"pending", "joined"}
    worker = worker_factory(queues="ratings", concurrency=2, env=QUICK)
    wait_until(lambda: idle_after(1), timeout=120, what="the worker to finish recomputing")
    runs = list(RecomputeRun.objects.all())
    assert 1 <= len(runs) <= 2 and all(run.status == "done" for run in runs)
    assert recompute_status().runs_started <= 2
    rows = client.get("/api/leaderboard/").json()["rows"]
    assert {row["contender"] for row in rows} == {"alpha", "beta", "gamma", "delta"}
    assert any("leaderboard.recompute[" in line and "succeeded" in line for line in worker.log)


def test_the_scheduled_task_skips_an_unchanged_arena_and_the_cli_can_wait(worker_factory):
    from arena.celery import app

    arena = arena_make()
    verdicts_add(arena.battles[:30], seed=1)
    worker = worker_factory(queues="ratings", concurrency=1, env=QUICK)

    app.send_task("leaderboard.recompute_all")
    wait_until(
        lambda: idle_after(1) and recompute_status().runs_started == 1, timeout=120, what="a first run"
    )
    app.send_task("leaderboard.recompute_all")
    wait_until(
        lambda: recompute_status().runs_started == 2 and idle_after(1), timeout=60, what="a second pass"
    )
    assert RecomputeRun.objects.count() == 1  # nothing changed: the scheduled pass skipped the work

    verdicts_add(arena.battles[30:], seed=2)
    out = StringIO()
    call_command("recompute_leaderboards", "--wait", "--timeout", "120", stdout=out)
    assert "Recompute requested: queued." in out.getvalue() and "leaderboards (" in out.getvalue()
    assert RecomputeRun.objects.filter(status="done").count() == 2
    assert sum("leaderboard.recompute_all[" in line and "succeeded" in line for line in worker.log) == 2


@pytest.mark.parametrize(
    "pool", ["threads", "prefork"]
)  # compose runs ratings on prefork, the demo on threads
def test_a_ratings_worker_reads_the_battles_when_it_starts_and_a_judge_worker_does_not(worker_factory, pool):
    from arena.models import Battle

    arena_make()
    judge_worker = worker_factory(queues="judge", concurrency=1, env=QUICK)
    ratings_worker = worker_factory(queues="ratings", concurrency=1, env=QUICK, pool=pool)

    warmed = f"Battle table warmed: {Battle.objects.count()} battles"
    wait_until(
        lambda: any(warmed in line for line in ratings_worker.log),
        timeout=60,
        what="the battle table warm-up",
    )
    assert Battle.objects.count() > 0
    assert not any("Battle table warmed" in line for line in judge_worker.log)
