"""One recompute: every leaderboard fitted from one read of the data and stored as a new versioned run.

The run row is created first (status "running", so pages can say a recompute is under way); snapshots,
rows and judge agreement are written in one transaction at the end, so a run is never seen half stored.
Older runs stay viewable until pruned (setting LEADERBOARD_KEEP_RUNS). Callers that may run concurrently
go through `leaderboard.services.coalescing`, which serialises recomputes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from arena.models import Contender, Source
from leaderboard.models import ALL_CATEGORIES, BoardJob, JudgeAgreement, RecomputeRun, Snapshot
from leaderboard.services.aggregation import (
    categories_exist,
    data_fingerprint,
    verdict_columns_read,
    verdict_pairs_aggregate,
    verdicts_grouped,
)
from leaderboard.services.agreement import Agreement, judge_agreements_compute, judge_agreements_of
from leaderboard.services.board_plan import BuiltSnapshot, PlannedBoard, boards_plan, planned_board_fit
from leaderboard.services.boards import BoardInput, boards_assemble
from leaderboard.services.calibration import LabelledRows, calibrated_sources_exist, labelled_rows_of
from leaderboard.services.coverage import Coverage, coverage_of, coverage_read
from leaderboard.services.fanout import (
    FittedSnapshot,
    ReusedSnapshot,
    StoredBoard,
    boards_fit_fanned_out,
    snapshot_copy,
)
from leaderboard.services.fitting import FitSettings
from leaderboard.services.storing import snapshots_create

logger = logging.getLogger(__name__)


def fit_settings() -> FitSettings:
    return FitSettings(
        bootstrap_rounds=settings.LEADERBOARD_BOOTSTRAP_ROUNDS,
        seed=settings.LEADERBOARD_SEED,
        min_verdicts=settings.LEADERBOARD_MIN_VERDICTS,
        style_control=settings.LEADERBOARD_STYLE_CONTROL,
        style_bootstrap_rounds=settings.LEADERBOARD_STYLE_BOOTSTRAP_ROUNDS,
        style_battles_per_parameter=settings.LEADERBOARD_STYLE_BATTLES_PER_PARAMETER,
        calibration_min_labelled=settings.LEADERBOARD_CALIBRATION_MIN_LABELLED,
        calibration_bootstrap_rounds=settings.LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS,
    )


def leaderboards_recompute(
    *,
    trigger: str,
    force: bool = True,
    heartbeat: Callable[[], None] = lambda: None,
    fanout: bool = False,
) -> RecomputeRun | None:
    """Fit and store every leaderboard; returns the finished run, or None when `force` is off and nothing
    changed since the last finished run (same data fingerprint: the result would be identical).

    Serial (the default): every board is fitted here, in order. `fanout`: boards whose inputs did not change
    since the last finished run are copied from it and the others fitted by the "ratings" workers as well as
    here (leaderboard.services.fanout); the stored run is the same either way.
    `heartbeat` is called after each fit (the coalescer renews its lease there, and may raise to abort).
    A failure marks the run "failed" with the error and re-raises; the previous run stays the one shown.
    """
    fits = fit_settings()
    fingerprint = data_fingerprint(fits.as_dict())
    if not force and _latest_fingerprint() == fingerprint:
        return None
    run = RecomputeRun.objects.create(trigger=trigger, fingerprint=fingerprint, settings=fits.as_dict())
    started = time.perf_counter()
    try:
        boards, judging = boards_and_judging_read()
        RecomputeRun.objects.filter(pk=run.pk).update(n_boards=len(boards))
        labelled = None if judging is None else judging.labelled
        coverage = coverage_read() if judging is None else judging.coverage
        plan = boards_plan(boards, fits, coverage=coverage, labelled=labelled)
        if fanout:
            stored = boards_fit_fanned_out(run, plan, heartbeat)
        else:
            stored = boards_fit(run, plan, fits, _with_progress(run, heartbeat))
        if judging is not None:
            agreements = judging.agreements
        else:
            agreements = judge_agreements_compute() if _judges_spoke(boards) else []
        run_store(run, boards, stored, agreements, started)
    except BaseException as error:
        _run_failed(run, error, started)
        raise
    runs_prune(keep=settings.LEADERBOARD_KEEP_RUNS)
    return run


def boards_read(
    *, source_ids: list[int] | None = None, dimension_ids: list[int] | None = None
) -> list[BoardInput]:
    """Every leaderboard's input (optionally of some sources and dimensions only), from one consistent read
    of the verdicts: one query (with style control: every counted verdict, grouped by numpy both ways) or
    one grouped query (without), in a REPEATABLE READ transaction on PostgreSQL."""
    return _boards_read(source_ids, dimension_ids, with_judging=False)[0]


@dataclass(frozen=True)
class Judging:
    """What a run needs beside the boards: calibration's labelled battles, judge agreement, and the
    contenders' prompt coverage (whose pass over the verdicts, `coverage_read`, the boards' read replaces)."""

    labelled: dict[tuple[int, int], LabelledRows]
    agreements: list[Agreement]
    coverage: Coverage


def boards_and_judging_read() -> tuple[list[BoardInput], Judging | None]:
    """`boards_read` of every board and, with style control, the labelled battles of calibration, judge
    agreement and coverage taken from the same read of every verdict (`calibration.labelled_rows_of`,
    `agreement.judge_agreements_of`, `coverage.coverage_of`) rather than read again. None without style
    control: the plan and the run read them with their own queries then."""
    return _boards_read(None, None, with_judging=True)


def _boards_read(
    source_ids: list[int] | None, dimension_ids: list[int] | None, *, with_judging: bool
) -> tuple[list[BoardInput], Judging | None]:
    by_category = categories_exist()
    style_on = settings.LEADERBOARD_STYLE_CONTROL
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _postgresql_session(first_in_transaction=not outer)
        scope: dict[str, Any] = {
            "source_ids": source_ids,
            "dimension_ids": dimension_ids,
            "by_category": by_category,
        }
        judging = None
        if style_on:  # one read of the verdicts for both
            # Verdict ids only order calibration's labelled battles: not read when no source is calibrated.
            with_id = with_judging and calibrated_sources_exist()
            verdicts = verdict_columns_read(source_ids, dimension_ids, with_outcome=True, with_id=with_id)
            grouped = verdicts_grouped(verdicts, by_category=by_category)
            pairs, styles = grouped.pairs, grouped.styles
            if with_judging:
                agreements = judge_agreements_of(verdicts, grouped.category, styles.categories)
                coverage = coverage_of(verdicts["source"], grouped.prompt)
                judging = Judging(labelled_rows_of(verdicts), agreements, coverage)
        else:
            pairs, styles = verdict_pairs_aggregate(**scope), None
        slugs = dict(Contender.objects.values_list("id", "slug"))
    return list(boards_assemble(pairs, styles, slugs)), judging


def _judges_spoke(boards: list[BoardInput]) -> bool:
    """Whether some judge has a verdict that counts. Boards exist for exactly the sources with one, so
    asking them spares `judge_agreements_compute` its own check, a scan of every verdict that finds nothing
    when no judge has spoken."""
    return any(board.key.source.kind in (Source.Kind.JUDGE, Source.Kind.JURY) for board in boards)


def _postgresql_session(*, first_in_transaction: bool) -> None:
    """The reads must see one state of the data (verdicts, categories, contenders), or counts and style
    groups could disagree; and grouping queries' many groups hash in memory with more than PostgreSQL's
    default 4 MB of work_mem (figures: docs/benchmarks.md)."""
    with connection.cursor() as cursor:
        if first_in_transaction:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.LEADERBOARD_WORK_MEM])


# Progress is written after every this many fits (one small UPDATE each), and after the last.
PROGRESS_EVERY = 5


def _with_progress(run: RecomputeRun, heartbeat: Callable[[], None]) -> Callable[[], None]:
    """`heartbeat`, also counting fits into `run.n_fitted` so the pages' status box can show progress."""
    done = 0

    def beat() -> None:
        nonlocal done
        heartbeat()
        done += 1
        if done % PROGRESS_EVERY == 0:
            RecomputeRun.objects.filter(pk=run.pk).update(n_fitted=done)

    return beat


def boards_fit(
    run: RecomputeRun, plan: list[PlannedBoard], fits: FitSettings, heartbeat: Callable[[], None]
) -> list[StoredBoard]:
    built: list[StoredBoard] = []
    for planned in plan:
        built.append(planned_board_fit(planned, fits, run))
        heartbeat()
    return built


def run_store(
    run: RecomputeRun,
    boards: list[BoardInput],
    stored: list[StoredBoard],
    agreements: list[Agreement],
    started: float,
) -> None:
    """Write the snapshots (built, or copied from the previous run), their rows and judge agreement, delete
    the run's board jobs, and mark the run done, in one transaction: pages never see a run half stored."""
    with transaction.atomic():
        # Built ones in bulk, copies one by one; boards a fanned-out run's workers fitted are stored already
        # (under this run, which no page reads until it is done).
        built: list[BuiltSnapshot] = []
        for entry in stored:
            if isinstance(entry, ReusedSnapshot):
                snapshot_copy(reused=entry, run=run)
            elif not isinstance(entry, FittedSnapshot):
                built.append(entry)
        snapshots_create(built)
        JudgeAgreement.objects.bulk_create(
            JudgeAgreement(
                run=run,
                source_id=a.source_id,
                dimension_id=a.dimension_id,
                category=a.category,
                n_compared=a.n_compared,
                n_agreed=a.n_agreed,
            )
            for a in agreements
        )
        BoardJob.objects.filter(run=run).delete()
        run.status = RecomputeRun.Status.DONE
        run.finished = timezone.now()
        run.n_snapshots = run.n_fitted = run.n_boards = len(stored)
        run.n_failed = sum(_status(entry) == Snapshot.Status.FAILED for entry in stored)
        run.n_verdicts = sum(board.data.n_verdicts for board in boards if _counts_each_verdict_once(board))
        run.duration_ms = int(1000 * (time.perf_counter() - started))
        run.save()


def _status(entry: StoredBoard) -> str:
    return entry.status if isinstance(entry, ReusedSnapshot | FittedSnapshot) else entry[0].status


def _counts_each_verdict_once(board: BoardInput) -> bool:
    """The all-categories board of every real source (not the judges' pool) holds each verdict once."""
    return board.key.category == ALL_CATEGORIES and board.key.source.source_id is not None


def _run_failed(run: RecomputeRun, error: BaseException, started: float) -> None:
    logger.exception("leaderboard recompute (run %s) failed", run.pk)
    # The jobs first: a worker still fitting one then cannot settle it, so it stores no snapshot after the
    # ones the workers stored are deleted here.
    BoardJob.objects.filter(run=run).delete()
    Snapshot.objects.filter(run=run).delete()
    RecomputeRun.objects.filter(pk=run.pk).update(
        status=RecomputeRun.Status.FAILED,
        finished=timezone.now(),
        error=f"{type(error).__name__}: {error}"[:2000],
        duration_ms=int(1000 * (time.perf_counter() - started)),
    )


def _latest_fingerprint() -> str | None:
    latest = RecomputeRun.objects.filter(status=RecomputeRun.Status.DONE).order_by("-finished").first()
    return latest.fingerprint if latest else None


def runs_prune(*, keep: int) -> int:
    """Delete all but the `keep` newest finished runs, and finished or failed runs older than those.

    Returns how many runs were deleted (their snapshots go with them)."""
    kept = list(
        RecomputeRun.objects.filter(status=RecomputeRun.Status.DONE)
        .order_by("-finished")
        .values_list("pk", "started")[:keep]
    )
    if len(kept) < keep:
        return 0
    oldest_kept = min(started for _, started in kept)
    stale = RecomputeRun.objects.exclude(status=RecomputeRun.Status.RUNNING).filter(started__lt=oldest_kept)
    stale = stale.exclude(pk__in=[pk for pk, _ in kept])
    count = stale.count()
    stale.delete()
    return count
