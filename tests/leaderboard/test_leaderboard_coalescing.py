"""Concurrent recompute requests coalesce: one recompute runs, and at most one more — never N."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leaderboard.models import RecomputeRun, RecomputeState
from leaderboard.services import coalescing
from leaderboard.services.coalescing import recompute_coalesced, recompute_request, recompute_status
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, verdicts_add

N = 8


@pytest.fixture
def unrated_arena(transactional_db):
    """An arena with people's verdicts on 30 battles and no recompute yet."""
    arena = arena_make()
    verdicts_add(arena.battles[:30], seed=1)
    return arena


class SlowRuns(list):
    """Triggers of the recomputes that ran; `computed` is set once the first has read the data."""

    def __init__(self):
        super().__init__()
        self.computed = threading.Event()


@pytest.fixture
def slow_runs(monkeypatch):
    """Every recompute lingers a second after computing, so requests can arrive while it still runs."""
    passes = SlowRuns()

    def slow(**kwargs):
        passes.append(kwargs["trigger"])
        run = leaderboards_recompute(**kwargs)
        passes.computed.set()
        time.sleep(1.0)
        return run

    monkeypatch.setattr(coalescing, "leaderboards_recompute", slow)
    return passes


def in_threads(action, n):
    """Run `action` in `n` threads released at once; returns their results (each thread has its own DB
    connection, closed at the end)."""
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = action()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_n_concurrent_runners_give_one_run(unrated_arena, slow_runs):
    outcomes = in_threads(lambda: recompute_coalesced(trigger="staff"), N)

    assert sum(not o.joined for o in outcomes) == 1
    # Runners that joined marked the holder dirty, so it went once more (and skipped: nothing changed).
    assert RecomputeRun.objects.count() == 1
    assert len(slow_runs) <= 2 and recompute_status().runs_started == len(slow_runs)
    assert recompute_status().holder == ""


def test_requests_during_a_run_give_exactly_one_more_run(unrated_arena, slow_runs, monkeypatch):
    sent = []
    monkeypatch.setattr(coalescing, "_send", sent.append)
    first = threading.Thread(target=lambda: (recompute_coalesced(trigger="staff"), connection.close()))
    first.start()
    assert slow_runs.computed.wait(30)
    verdicts_add(unrated_arena.battles[30:], seed=2)  # new data while it runs: the rerun has work to do

    answers = in_threads(lambda: recompute_request(trigger="api"), N)
    joined = in_threads(lambda: recompute_coalesced(trigger="schedule", force=False).joined, N)
    first.join(60)

    assert set(answers) == {"joined"} and all(joined) and sent == []
    assert len(slow_runs) == 2 and slow_runs[1] == "coalesced"
    runs = list(RecomputeRun.objects.order_by("started"))
    assert [r.trigger for r in runs] == ["staff", "coalesced"] and runs[-1].n_verdicts > runs[0].n_verdicts
    assert recompute_status().holder == "" and not recompute_status().dirty


def test_n_concurrent_requests_send_one_task(unrated_arena, monkeypatch):
    sent = []
    monkeypatch.setattr(coalescing, "_send", sent.append)

    answers = in_threads(lambda: recompute_request(trigger="api"), N)

    assert sorted(answers) == ["pending"] * (N - 1) + ["queued"] and sent == ["api"]
    # The task clears the mark when it starts, so the next request sends again.
    recompute_coalesced(trigger="api", from_queue=True)
    assert recompute_request(trigger="api") == "queued" and len(sent) == 2


def test_a_lost_task_message_is_sent_again_after_the_queue_ttl(unrated_arena, monkeypatch, settings):
    sent = []
    monkeypatch.setattr(coalescing, "_send", sent.append)
    assert recompute_request(trigger="api") == "queued"
    RecomputeState.objects.update(
        queued_at=timezone.now() - timedelta(seconds=settings.LEADERBOARD_QUEUE_TTL_SECONDS + 1)
    )

    assert recompute_request(trigger="api") == "queued" and len(sent) == 2


def test_a_dead_runners_lease_lapses_and_its_run_is_marked_abandoned(unrated_arena):
    RecomputeState.objects.get_or_create(pk=1)
    RecomputeState.objects.update(holder="dead", lease_until=timezone.now() - timedelta(seconds=1))
    orphan = RecomputeRun.objects.create(trigger="schedule")

    outcome = recompute_coalesced(trigger="staff")

    assert not outcome.joined and len(outcome.runs) == 1
    orphan.refresh_from_db()
    assert orphan.status == "failed" and "Abandoned" in orphan.error


def test_a_runner_that_lost_its_lease_stops(unrated_arena, monkeypatch):
    def stolen(**kwargs):
        RecomputeState.objects.update(holder="someone-else")
        kwargs["heartbeat"]()

    monkeypatch.setattr(coalescing, "leaderboards_recompute", stolen)

    with pytest.raises(coalescing.LeaseLost):
        recompute_coalesced(trigger="staff")
    assert recompute_status().holder == "someone-else"
