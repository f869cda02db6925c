"""The work protocol of a fanned-out run's boards: create, claim, settle, fail — all on `BoardJob` rows.

Any number of processes work the same run: the coordinator itself and every `leaderboard.fit_boards` task.
Each claims the next pending job with a conditional UPDATE that must change exactly one row (two workers
racing for a job: one wins, the other takes the next), fits it, and settles it only if it still holds the
claim. A claim whose worker died lapses after LEADERBOARD_LEASE_SECONDS and is claimed again, at most
`BoardJob.MAX_ATTEMPTS` times; a board that kills its worker every time fails the run with a message rather
than being retried forever.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from leaderboard.models import BoardJob, RecomputeRun
from leaderboard.services.board_packing import planned_board_pack, planned_board_unpack, stored_snapshot_pack
from leaderboard.services.board_plan import PlannedBoard, planned_board_fit
from leaderboard.services.fitting import FitSettings
from leaderboard.services.storing import snapshots_create

logger = logging.getLogger(__name__)


def board_jobs_create(*, run: RecomputeRun, planned: list[PlannedBoard]) -> int:
    """One pending job per board, the costliest first so that the last boards to finish are small ones
    (a long fit started last would leave the other workers idle while it runs). Returns how many."""
    ranked = sorted(planned, key=_fit_cost, reverse=True)
    jobs = [
        BoardJob(run=run, position=position, payload=planned_board_pack(board))
        for position, board in enumerate(ranked)
    ]
    if connection.vendor == "postgresql":
        _jobs_copy(jobs)
    else:
        BoardJob.objects.bulk_create(jobs)
    return len(ranked)


def _jobs_copy(jobs: list[BoardJob]) -> None:
    """Insert the jobs with a binary COPY: their payloads (a few hundred megabytes for a large arena) go to
    PostgreSQL as they are, where an INSERT through Django's client-side parameters spelled every byte out
    as an escaped literal for the server to parse back: seconds before any worker could start."""
    names = ("run", "position", "state", "token", "attempts", "payload", "error")
    column_of = {field.name: field.column for field in BoardJob._meta.concrete_fields}
    columns = ", ".join(f'"{column_of[name]}"' for name in names)
    with connection.cursor() as cursor:
        copy_sql = f"COPY {BoardJob._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(copy_sql) as copy:
            copy.set_types(["bigint", "integer", "text", "text", "smallint", "bytea", "text"])
            for job in jobs:
                copy.write_row(
                    (job.run_id, job.position, job.state, job.token, job.attempts, job.payload, job.error)
                )


def _fit_cost(planned: PlannedBoard) -> int:
    # The bootstrap grows with contenders², style control with its groups of battles.
    data = planned.board.data
    return data.counts.n_models**2 + (0 if data.style is None else 4 * len(data.style.a))


def board_jobs_work(*, run_id: int, heartbeat: Callable[[], None] = lambda: None) -> int:
    """Claim, fit and settle jobs of `run_id` until none is left to claim; returns how many this settled.

    `heartbeat` is called after each job (the coordinator renews its recompute lease there)."""
    run = RecomputeRun.objects.filter(pk=run_id, status=RecomputeRun.Status.RUNNING).first()
    if run is None:  # finished or failed meanwhile: a late task has nothing to do
        return 0
    fits = FitSettings(**run.settings)
    token = secrets.token_hex(16)
    settled = 0
    while (job := board_job_claim(run_id=run_id, token=token)) is not None:
        settled += board_job_fit(job, token=token, run=run, fits=fits)
        heartbeat()
    return settled


def board_job_claim(*, run_id: int, token: str) -> BoardJob | None:
    """The next claimable job of the run, now held by `token`; None when every job is done, failed or held
    under a live lease. A job whose lease lapsed `MAX_ATTEMPTS` times is failed instead of claimed."""
    while True:
        now = timezone.now()
        claimable = Q(state=BoardJob.State.PENDING) | Q(state=BoardJob.State.CLAIMED, lease_until__lt=now)
        candidate = (
            BoardJob.objects.filter(claimable, run_id=run_id)
            .order_by("position")
            .values_list("pk", "attempts")
            .first()
        )
        if candidate is None:
            return None
        pk, attempts = candidate
        job = BoardJob.objects.filter(claimable, pk=pk, attempts=attempts)
        if attempts >= BoardJob.MAX_ATTEMPTS:
            job.update(
                state=BoardJob.State.FAILED,
                token="",
                lease_until=None,
                error=f"Its worker stopped before finishing, {attempts} times (out of memory or killed?).",
            )
            continue
        lease = now + timedelta(seconds=settings.LEADERBOARD_LEASE_SECONDS)
        if job.update(state=BoardJob.State.CLAIMED, token=token, lease_until=lease, attempts=attempts + 1):
            return BoardJob.objects.get(pk=pk)
        # Another worker claimed it between the two queries: take the next one.


class _ClaimLost(Exception):
    """The job's lease lapsed and another worker took it over: its snapshot counts, not this one."""


def board_job_fit(job: BoardJob, *, token: str, run: RecomputeRun, fits: FitSettings) -> bool:
    """Fit one claimed job, store its snapshot under the run and settle the job, in one transaction; True if
    this worker's snapshot was kept. An exception while fitting (a bug: ill-posed data come back as failed
    fits, not exceptions) fails the job with the error.

    Storing here, in every worker at once, spares the coordinator a serial store of every snapshot at the
    end; no page reads them before the coordinator marks the run done (pages read finished runs only)."""
    try:
        planned = planned_board_unpack(bytes(job.payload))
        built = planned_board_fit(planned, fits, run)
    except Exception as error:
        logger.exception("fitting board job %s of run %s failed", job.pk, run.pk)
        _settle(job, token, state=BoardJob.State.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        return False
    try:
        with transaction.atomic():
            # Lock the job first: if its lease lapsed and another worker took it over (and perhaps stored
            # its own snapshot already), this worker backs off before inserting, rather than failing on the
            # board's unique constraint; while the lock is held no one can take the job over.
            if not _held(job, token).select_for_update().exists():
                raise _ClaimLost
            snapshots_create([built])
            result = stored_snapshot_pack(planned.order, built[0])
            _settle(job, token, state=BoardJob.State.DONE, result=result)
    except _ClaimLost:
        return False  # rolled back: nothing of this worker's fit is stored
    except Exception as error:
        logger.exception("storing board job %s of run %s failed", job.pk, run.pk)
        _settle(
            job, token, state=BoardJob.State.FAILED, error=f"storing: {type(error).__name__}: {error}"[:2000]
        )
        return False
    RecomputeRun.objects.filter(pk=run.pk).update(n_fitted=F("n_fitted") + 1)
    return True


def _held(job: BoardJob, token: str):
    """The job, while this worker's claim on it holds."""
    return BoardJob.objects.filter(pk=job.pk, token=token, state=BoardJob.State.CLAIMED)


def _settle(job: BoardJob, token: str, **changes) -> bool:
    return bool(_held(job, token).update(lease_until=None, **changes))


def board_jobs_states(*, run_id: int) -> dict[str, int]:
    """How many of the run's jobs are in each state."""
    counted = BoardJob.objects.filter(run_id=run_id).values_list("state").annotate(n=Count("id")).order_by()
    return {state: n for state, n in counted}
