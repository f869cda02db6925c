"""Recompute requests, coalesced: however many arrive at once, one recompute runs and at most one more.

All coordination is conditional UPDATEs on the single `RecomputeState` row, so it holds across web
processes, workers and the CLI, on PostgreSQL and SQLite alike:

- a *request* (staff button, API, CLI --enqueue/--wait) marks a running recompute dirty if there is one;
  otherwise it sends a task unless one is already queued (`queued_at`, expiring after
  LEADERBOARD_QUEUE_TTL_SECONDS in case the message was lost);
- a *runner* (the tasks, CLI --sync) claims the row with a lease (renewed after every fit, lapsing after
  LEADERBOARD_LEASE_SECONDS if the process died). If another runner holds it, it marks it dirty and
  returns without running. When the holder finishes and finds itself dirty, it runs once more — a
  scheduled-style run that skips the work when the data fingerprint has not changed.

So N concurrent requests while nothing runs give one run (plus one if some arrive while it runs); requests
during a run give one more run, never N.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from leaderboard.models import RecomputeRun, RecomputeState
from leaderboard.services.recompute import leaderboards_recompute

RECOMPUTE_TASK = "leaderboard.recompute"


class LeaseLost(RuntimeError):
    """Another runner took over after this one's lease lapsed; this one stops so that only one runs."""


@dataclass
class RecomputeOutcome:
    """What a runner did: the runs it stored (a skipped, unchanged run is counted in `passes` only), or that
    it joined a running recompute instead."""

    joined: bool = False
    passes: int = 0
    runs: list[RecomputeRun] = field(default_factory=list)

    def summary(self) -> dict:
        return {"joined": self.joined, "passes": self.passes, "runs": [run.pk for run in self.runs]}


def _state():
    RecomputeState.objects.get_or_create(pk=1)
    return RecomputeState.objects.filter(pk=1)


def _lease() -> timedelta:
    return timedelta(seconds=settings.LEADERBOARD_LEASE_SECONDS)


def recompute_request(*, trigger: str) -> str:
    """Ask the workers for a recompute. Returns "joined" (the running one will run once more), "queued"
    (a task was sent, on commit) or "pending" (a task is already on its way)."""
    now = timezone.now()
    state = _state()
    state.update(last_requested=now)
    if state.filter(~Q(holder=""), lease_until__gte=now).update(dirty=True):
        return "joined"
    stale = now - timedelta(seconds=settings.LEADERBOARD_QUEUE_TTL_SECONDS)
    if state.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale)).update(queued_at=now):
        transaction.on_commit(lambda: _send(trigger))
        return "queued"
    return "pending"


def _send(trigger: str) -> None:
    from arena.celery import app

    app.send_task(RECOMPUTE_TASK, kwargs={"trigger": trigger})


def recompute_coalesced(
    *, trigger: str, force: bool = True, from_queue: bool = False, fanout: bool = False
) -> RecomputeOutcome:
    """Run a recompute unless one is running (then mark it to run once more and return at once).

    `force` runs even if the data are unchanged; `from_queue` says the caller is the task a request sent,
    whose `queued_at` mark it clears; `fanout` fans the fits out over the "ratings" workers (the tasks do;
    the CLI's --sync fits here). Reruns for requests that came in meanwhile are never forced.
    """
    token = secrets.token_hex(16)
    outcome = RecomputeOutcome()
    if not _claim_or_join(token, from_queue):
        outcome.joined = True
        return outcome
    try:
        while True:
            outcome.passes += 1
            run = leaderboards_recompute(
                trigger=trigger, force=force, heartbeat=lambda: _renew(token), fanout=fanout
            )
            if run is not None:
                outcome.runs.append(run)
            if _release_unless_dirty(token) or not _rerun(token):
                return outcome
            trigger, force = "coalesced", False
    except BaseException:
        _release(token)
        raise


def _claim_or_join(token: str, from_queue: bool) -> bool:
    """True once this runner holds the state row; False if it marked a running holder dirty instead."""
    cleared = {"queued_at": None} if from_queue else {}
    while True:
        now = timezone.now()
        free = Q(holder="") | Q(lease_until__lt=now)
        claim = {"holder": token, "lease_until": now + _lease(), "dirty": False, **cleared}
        if _state().filter(free).update(runs_started=F("runs_started") + 1, **claim):
            _abandoned_runs_fail()
            return True
        if _state().filter(~Q(holder=""), lease_until__gte=now).update(dirty=True, **cleared):
            return False
        # The holder let go between the two updates: try to claim again.


def _abandoned_runs_fail() -> None:
    """Runs still "running" when a runner claims the row belonged to a runner that died."""
    RecomputeRun.objects.filter(status=RecomputeRun.Status.RUNNING).update(
        status=RecomputeRun.Status.FAILED,
        finished=timezone.now(),
        error="Abandoned: the process running it stopped before it finished.",
    )


def _renew(token: str) -> None:
    if not _state().filter(holder=token).update(lease_until=timezone.now() + _lease()):
        raise LeaseLost("another recompute took over after this one's lease lapsed; stopping")


def _release_unless_dirty(token: str) -> bool:
    now = timezone.now()
    return bool(
        _state().filter(holder=token, dirty=False).update(holder="", lease_until=None, last_finished=now)
    )


def _rerun(token: str) -> bool:
    """Take the dirty mark for one more pass; False if the lease was lost meanwhile."""
    renewed = {"lease_until": timezone.now() + _lease(), "runs_started": F("runs_started") + 1}
    return bool(_state().filter(holder=token, dirty=True).update(dirty=False, **renewed))


def _release(token: str) -> None:
    _state().filter(holder=token).update(holder="", lease_until=None, last_finished=timezone.now())


def recompute_status() -> RecomputeState:
    """The state row, for pages (is a recompute running or queued?) and for the CLI's --wait."""
    return _state().get()
