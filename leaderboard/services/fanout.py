"""A run's boards fitted across the "ratings" workers, each board fitted only if its inputs changed.

The coordinator (the process running the recompute: a `leaderboard.recompute` task, under the coalescing
lease) has read the verdicts once and planned every board (leaderboard.services.board_plan). Here it

1. keeps the boards whose fingerprint equals that of the same board in the last finished run: their
   snapshots are copied, not refitted (`ReusedSnapshot`);
2. writes the others as `BoardJob` rows, the costliest first, and sends `leaderboard.fit_boards` tasks (a
   Celery group) that claim and fit jobs until none is left — more workers, more boards at once;
3. works the jobs itself too, so a run finishes even with no other worker (or a single worker slot, which
   the coordinator itself occupies), then waits for the jobs other workers hold, taking over any whose
   worker died (its lease lapses);
4. returns every board's snapshot in plan order. Each worker stored the snapshots it fitted under the run
   (with the job settled, in one transaction); `recompute.run_store` copies the reused ones and marks the
   run done in one transaction. Pages read finished runs only, so none sees a run half stored.

Fits read only their job's packed input, never the verdicts: every board of a run comes from the one
consistent read of the plan, wherever it is fitted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from leaderboard.models import BoardJob, RecomputeRun, Snapshot, SnapshotRow
from leaderboard.services.board_jobs import board_jobs_create, board_jobs_states, board_jobs_work
from leaderboard.services.board_packing import stored_snapshot_unpack
from leaderboard.services.board_plan import BuiltSnapshot, PlannedBoard

logger = logging.getLogger(__name__)
FIT_TASK = "leaderboard.fit_boards"
# Tasks sent per run, at most: each fits jobs until none is left, so this only needs to exceed the number
# of worker processes that could help; the extra ones find nothing to do and return at once.
MAX_FIT_TASKS = 32
# How often the coordinator looks at the jobs other workers hold, once it has none left to claim.
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class ReusedSnapshot:
    """A board whose inputs did not change: its snapshot in the previous run, copied when the run is stored."""

    snapshot_id: int
    status: str


@dataclass(frozen=True)
class FittedSnapshot:
    """A board a worker fitted and stored under the run already (leaderboard.services.board_jobs)."""

    snapshot_id: int
    status: str


StoredBoard = BuiltSnapshot | ReusedSnapshot | FittedSnapshot


class BoardFitFailed(RuntimeError):
    """A board job failed (an unexpected error while fitting, or a worker killed on it every time)."""


def boards_fit_fanned_out(
    run: RecomputeRun, plan: list[PlannedBoard], heartbeat: Callable[[], None]
) -> list[StoredBoard]:
    """Every planned board's snapshot, in plan order: reused where unchanged, else fitted by the workers."""
    reused = boards_reusable(plan)
    to_fit = [planned for planned in plan if planned.order not in reused]
    RecomputeRun.objects.filter(pk=run.pk).update(n_fitted=len(reused))
    fitted: dict[int, FittedSnapshot] = {}
    if to_fit:
        n_jobs = board_jobs_create(run=run, planned=to_fit)
        transaction.on_commit(lambda: _send_fit_tasks(run.pk, min(n_jobs, MAX_FIT_TASKS)))
        board_jobs_work(run_id=run.pk, heartbeat=heartbeat)
        _wait_for_other_workers(run.pk, heartbeat)
        fitted = _fitted_snapshots(run)
    return [reused[p.order] if p.order in reused else fitted[p.order] for p in plan]


def boards_reusable(plan: list[PlannedBoard]) -> dict[int, ReusedSnapshot]:
    """Plan order → the last finished run's snapshot of the same board, where its fingerprint is equal."""
    latest = RecomputeRun.objects.filter(status=RecomputeRun.Status.DONE).order_by("-finished", "-pk").first()
    if latest is None:
        return {}
    previous = {
        (dimension_id, category, source_key): (pk, fingerprint, status)
        for pk, dimension_id, category, source_key, fingerprint, status in Snapshot.objects.filter(
            run=latest
        ).values_list("pk", "dimension_id", "category", "source_key", "input_fingerprint", "status")
    }
    reusable = {}
    for planned in plan:
        key = planned.board.key
        pk, fingerprint, status = previous.get((key.dimension_id, key.category, key.source.key), (0, "", ""))
        if fingerprint and fingerprint == planned.fingerprint:
            reusable[planned.order] = ReusedSnapshot(pk, status)
    return reusable


def _send_fit_tasks(run_id: int, n_tasks: int) -> None:
    """Ask the other workers for help. If the broker cannot take the messages, the coordinator fits every
    board itself: slower, but the run completes."""
    from celery import group
    from kombu.exceptions import OperationalError

    from arena.celery import app

    try:
        group(app.signature(FIT_TASK, kwargs={"run_id": run_id}) for _ in range(n_tasks)).apply_async()
    except (OperationalError, OSError):
        logger.warning(
            "Could not send fit tasks for run %s; fitting its boards here alone", run_id, exc_info=True
        )


def _wait_for_other_workers(run_id: int, heartbeat: Callable[[], None]) -> None:
    """Until every job is done; jobs whose worker died are claimed and fitted here once their lease lapses."""
    while True:
        states = board_jobs_states(run_id=run_id)
        if states.get(BoardJob.State.FAILED):
            raise BoardFitFailed(_failure_message(run_id))
        if not states.get(BoardJob.State.PENDING) and not states.get(BoardJob.State.CLAIMED):
            return
        if not board_jobs_work(run_id=run_id, heartbeat=heartbeat):
            heartbeat()
            time.sleep(POLL_SECONDS)


def _failure_message(run_id: int) -> str:
    job = BoardJob.objects.filter(run_id=run_id, state=BoardJob.State.FAILED).order_by("position").first()
    assert job is not None
    return f"Board job {job.position} of run {run_id} failed: {job.error}"


def _fitted_snapshots(run: RecomputeRun) -> dict[int, FittedSnapshot]:
    done = BoardJob.objects.filter(run=run, state=BoardJob.State.DONE, result__isnull=False)
    fitted = {}
    for result in done.values_list("result", flat=True).iterator():
        assert result is not None  # filtered above (and a check constraint: a done job has a result)
        order, snapshot_id, status = stored_snapshot_unpack(bytes(result))
        fitted[order] = FittedSnapshot(snapshot_id, status)
    return fitted


def snapshot_copy(*, reused: ReusedSnapshot, run: RecomputeRun) -> None:
    """Copy a snapshot and its rows into `run` inside the database (matrices are never parsed in Python);
    the copy keeps the original's `computed` time, when it was fitted."""
    snapshot_columns = _columns(Snapshot, without={"id", "run"})
    row_columns = _columns(SnapshotRow, without={"id", "snapshot"})
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Snapshot._meta.db_table} (run_id, {snapshot_columns}) "
            f"SELECT %s, {snapshot_columns} FROM {Snapshot._meta.db_table} WHERE id = %s RETURNING id",
            [run.pk, reused.snapshot_id],
        )
        copied = cursor.fetchone()
        if copied is None:
            raise BoardFitFailed(
                f"Snapshot {reused.snapshot_id} to reuse was deleted while the run was stored."
            )
        cursor.execute(
            f"INSERT INTO {SnapshotRow._meta.db_table} (snapshot_id, {row_columns}) "
            f"SELECT %s, {row_columns} FROM {SnapshotRow._meta.db_table} WHERE snapshot_id = %s",
            [copied[0], reused.snapshot_id],
        )


def _columns(model, *, without: set[str]) -> str:
    return ", ".join(
        f'"{field.column}"' for field in model._meta.concrete_fields if field.name not in without
    )
