"""A fitted leaderboard → unsaved `Snapshot` and `SnapshotRow` instances (JSON-safe: NaN becomes null)."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
from django.db import connection, models

from leaderboard.models import RecomputeRun, Snapshot, SnapshotRow
from leaderboard.services.boards import BoardInput
from leaderboard.services.calibration import Calibration
from leaderboard.services.coverage import Coverage
from leaderboard.services.fitting import BoardFit


def snapshot_build(
    run: RecomputeRun,
    board: BoardInput,
    fit: BoardFit,
    calibration: Calibration | None = None,
    *,
    fingerprint: str = "",
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
        input_fingerprint=fingerprint,
    )


# Each contender's (prompts answered, prompts the board uses), or (None, None) where not recorded.
Covered = dict[int, tuple[int | None, int | None]]


def board_coverage(board: BoardInput, coverage: Coverage | None) -> Covered:
    """The coverage of each contender on `board`. Without `coverage`, and on boards of imported battles
    (their synthetic prompts exist only for the battles a file held, so nobody was asked to answer them
    all), none is recorded."""
    ids = board.data.contender_ids
    if coverage is None or board.key.source.kind == Snapshot.SourceKind.IMPORT:
        return {cid: (None, None) for cid in ids}
    keys = coverage.prompt_keys(board.key.source.source_ids, board.key.category)
    return {cid: coverage.of(keys, cid) for cid in ids}


def snapshot_rows_build(
    snapshot: Snapshot,
    board: BoardInput,
    fit: BoardFit,
    calibration: Calibration | None = None,
    covered: Covered | None = None,
) -> list[SnapshotRow]:
    """One row per contender, best rating first; none for a failed fit. `covered` comes from
    `board_coverage` (None: not recorded)."""
    result = fit.result
    if result is None:
        return []
    calibrated = calibration.result if calibration else None
    ids = board.data.contender_ids
    covered = covered or {cid: (None, None) for cid in ids}
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
            prompts_answered=covered[ids[i]][0],
            prompts_total=covered[ids[i]][1],
            calibrated_rating=_at(None if calibrated is None else calibrated.ratings, i),
            calibrated_ci_low=_at(None if calibrated is None else calibrated.ci_low, i),
            calibrated_ci_high=_at(None if calibrated is None else calibrated.ci_high, i),
        )
        for position, i in enumerate(order, start=1)
    ]


def snapshots_create(built: list[tuple[Snapshot, list[SnapshotRow]]]) -> None:
    """Insert the snapshots and then their rows (which take the snapshots' new ids)."""
    if connection.vendor == "postgresql":
        _snapshots_insert([snapshot for snapshot, _ in built])
    else:
        Snapshot.objects.bulk_create(snapshot for snapshot, _ in built)
    SnapshotRow.objects.bulk_create((row for _, rows in built for row in rows), batch_size=2000)


def _snapshots_insert(snapshots: list[Snapshot]) -> None:
    """`bulk_create` of the snapshots on PostgreSQL, with their JSON written by orjson and sent as parameters
    apart from the statement (server-side binding). Through Django's client-side binding each snapshot's four
    matrices (contenders² numbers each) were written by the json module and then spelled out as escaped
    literals in the statement for the server to parse again: the larger part of storing a board."""
    if not snapshots:
        return
    fields = [field for field in Snapshot._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(f'"{field.column}"' for field in fields)
    sql = (
        f"INSERT INTO {Snapshot._meta.db_table} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id"
    )
    from psycopg import Cursor
    from psycopg.types.json import Jsonb

    # Driver errors reach callers as Django's own (IntegrityError, …), as through the ORM.
    with (
        connection.cursor() as wrapper,
        connection.wrap_database_errors,
        Cursor(wrapper.cursor.connection) as cursor,
    ):
        for snapshot in snapshots:
            values = [
                Jsonb(getattr(snapshot, field.attname), dumps=_json_text)
                if isinstance(field, models.JSONField)
                else field.get_db_prep_save(getattr(snapshot, field.attname), connection)
                for field in fields
            ]
            cursor.execute(sql, values)
            inserted = cursor.fetchone()
            assert inserted is not None  # INSERT … RETURNING gives one row
            snapshot.pk = inserted[0]
            snapshot._state.adding, snapshot._state.db = False, connection.alias


def _json_text(value) -> str:
    """`value` as JSON text; whatever orjson refuses goes through the json module, as Django's field would."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return json.dumps(value)


def _at(values: np.ndarray | None, i: int) -> float | None:
    if values is None:
        return None
    value = float(values[i])
    return None if math.isnan(value) else value


def _matrix(matrix: np.ndarray | None) -> list[list[float | None]]:
    if matrix is None:
        return []
    if not np.isnan(matrix).any():  # the common case: no value to replace, no Python test per entry
        return matrix.tolist()
    return [[None if math.isnan(v) else v for v in row] for row in matrix.tolist()]
