"""A fitted leaderboard → unsaved `Snapshot` and `SnapshotRow` instances (JSON-safe: NaN becomes null)."""

from __future__ import annotations

import math

import numpy as np

from leaderboard.models import RecomputeRun, Snapshot, SnapshotRow
from leaderboard.services.boards import BoardInput
from leaderboard.services.calibration import Calibration
from leaderboard.services.fitting import BoardFit


def snapshot_build(
    run: RecomputeRun, board: BoardInput, fit: BoardFit, calibration: Calibration | None = None
) -> Snapshot:
    key, counts = board.key, board.data.counts
    return Snapshot(
        run=run,
        dimension_id=key.dimension_id,
        category=key.category,
        source_id=key.source.source_id,
        source_key=key.source.key,
        source_kind=key.source.kind,
        source_name=key.source.name,
        status=fit.status,
        message=fit.message,
        params=fit.params,
        diagnostics=fit.diagnostics,
        n_verdicts=board.data.n_verdicts,
        n_contenders=counts.n_models,
        contender_ids=list(board.data.contender_ids),
        wins=_matrix(counts.wins),
        ties=_matrix(counts.ties),
        win_fraction=_matrix(fit.win_fraction),
        battle_count=_matrix(fit.battle_count),
        style_coefficients=fit.style.coefficients if fit.style else {},
        style_message=fit.style_message,
        n_labelled=calibration.n_labelled if calibration and calibration.result else 0,
        calibration_message=calibration.message if calibration else "",
        duration_ms=fit.duration_ms,
    )


def snapshot_rows_build(
    snapshot: Snapshot, board: BoardInput, fit: BoardFit, calibration: Calibration | None = None
) -> list[SnapshotRow]:
    """One row per contender, best rating first; none for a failed fit."""
    result = fit.result
    if result is None:
        return []
    calibrated = calibration.result if calibration else None
    ids = board.data.contender_ids
    order = sorted(range(len(ids)), key=lambda i: (-result.ratings[i], result.models[i]))
    style = fit.style.ratings if fit.style else None
    return [
        SnapshotRow(
            snapshot=snapshot,
            contender_id=ids[i],
            position=position,
            rating=float(result.ratings[i]),
            ci_low=_at(result.ci_low, i),
            ci_high=_at(result.ci_high, i),
            rank_ub=int(result.rank_ub[i]),
            n_verdicts=int(round(float(result.n[i]))),
            average_win_rate=_at(fit.average_win_rate, i),
            style_rating=_at(None if style is None else style.ratings, i),
            style_ci_low=_at(None if style is None else style.ci_low, i),
            style_ci_high=_at(None if style is None else style.ci_high, i),
            style_rank_ub=None if style is None else int(style.rank_ub[i]),
            calibrated_rating=_at(None if calibrated is None else calibrated.ratings, i),
            calibrated_ci_low=_at(None if calibrated is None else calibrated.ci_low, i),
            calibrated_ci_high=_at(None if calibrated is None else calibrated.ci_high, i),
        )
        for position, i in enumerate(order, start=1)
    ]


def _at(values: np.ndarray | None, i: int) -> float | None:
    if values is None:
        return None
    value = float(values[i])
    return None if math.isnan(value) else value


def _matrix(matrix: np.ndarray | None) -> list[list[float | None]]:
    if matrix is None:
        return []
    return [[None if math.isnan(v) else v for v in row] for row in matrix.tolist()]
