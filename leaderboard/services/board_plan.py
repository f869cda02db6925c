"""A run's plan: every leaderboard with all it is fitted and stored from, and the fit of one planned board.

Both recompute paths go through here: the serial one fits the plan in order in one process; the fanned-out
one (leaderboard.services.fanout) hands the boards to "ratings" workers. Either way a board becomes a
snapshot through `planned_board_fit` alone, so the two store the same snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard.models import RecomputeRun, Snapshot, SnapshotRow
from leaderboard.rating.blas import one_blas_thread
from leaderboard.services.board_fingerprint import board_fingerprint
from leaderboard.services.boards import BoardInput
from leaderboard.services.calibration import (
    LabelledRows,
    board_calibrate,
    board_is_calibrated,
    board_labelled,
    labelled_rows_read,
)
from leaderboard.services.coverage import Coverage
from leaderboard.services.fitting import FitSettings, board_fit
from leaderboard.services.storing import Covered, board_coverage, snapshot_build, snapshot_rows_build

# An unsaved snapshot and its rows (which point at it): what a fit produces and a run stores.
BuiltSnapshot = tuple[Snapshot, list[SnapshotRow]]


@dataclass(frozen=True)
class PlannedBoard:
    """One leaderboard of a run: `order` is its place among the run's snapshots (the order boards are read
    in); `labelled` is the slice of people's battles calibration uses (None for boards not calibrated)."""

    order: int
    board: BoardInput
    covered: Covered
    labelled: LabelledRows | None
    fingerprint: str


def boards_plan(
    boards: list[BoardInput],
    fits: FitSettings,
    *,
    coverage: Coverage | None,
    labelled: dict[tuple[int, int], LabelledRows] | None = None,
) -> list[PlannedBoard]:
    """Every board with its coverage, labelled battles and fingerprint. `labelled`: the labelled battles if
    the caller has them (from the boards' own read); otherwise they are read (one pass over people's and
    judges' verdicts) when a calibrated board exists."""
    if labelled is None:
        labelled = labelled_rows_read() if any(board_is_calibrated(board) for board in boards) else {}
    plan = []
    for order, board in enumerate(boards):
        covered = board_coverage(board, coverage)
        rows = board_labelled(board, labelled)
        fingerprint = board_fingerprint(board, fits, covered=covered, labelled=rows)
        plan.append(PlannedBoard(order, board, covered, rows, fingerprint))
    return plan


def planned_board_fit(planned: PlannedBoard, fits: FitSettings, run: RecomputeRun) -> BuiltSnapshot:
    """Fit, calibrate and build the snapshot (unsaved) of one planned board. No database access.

    BLAS runs single-threaded here, in both paths alike (so they compute the same floats): boards are fitted
    in parallel by processes, and the fits' matrices (contenders + 4 square) are too small for threads to
    do anything but wait for each other: on a busy machine that made the small solves far slower."""
    board = planned.board
    with one_blas_thread():
        fit = board_fit(board.data, fits)
        labelled = {} if planned.labelled is None else {_labelled_key(board): planned.labelled}
        calibration = board_calibrate(board, fit, labelled, fits)
    snapshot = snapshot_build(run, board, fit, calibration, fingerprint=planned.fingerprint)
    return snapshot, snapshot_rows_build(snapshot, board, fit, calibration, planned.covered)


def _labelled_key(board: BoardInput) -> tuple[int, int]:
    # A calibrated board always has a real source (the judges' pool is not calibrated).
    assert board.key.source.source_id is not None
    return board.key.source.source_id, board.key.dimension_id
