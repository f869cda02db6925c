"""Judge and jury leaderboards calibrated by people: the labelled slice read from the verdicts, then the
prediction-powered fit of `leaderboard.rating.calibrated` on each such board over all categories.

The labelled slice of a judge (or jury) source on a dimension: the battles where it gave a hard verdict and
people voted (hard or soft), each with the people's mean score for A and the judge's score. Only verdicts that
ratings count take part (not excluded, approved contenders, active dimensions), as on the boards themselves;
battles people voted on because they were routed to them as disputed (`Assignment.disputed`) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.models import Source
from leaderboard.models import ALL_CATEGORIES
from leaderboard.rating import RatingError
from leaderboard.rating.calibrated import CalibratedResult, LabelledBattles, fit_calibrated_bradley_terry
from leaderboard.services.boards import BoardInput
from leaderboard.services.fitting import BoardFit, FitSettings
from leaderboard.services.grouping import row_groups
from leaderboard.services.sql_columns import sql_columns
from leaderboard.services.verdict_sql import SOFT_CODE, counted_where, labelled_query, routed_battles_query

CALIBRATED_KINDS = (Source.Kind.JUDGE, Source.Kind.JURY)


@dataclass(frozen=True)
class LabelledRows:
    """One source × dimension's labelled battles: contender ids and both scores for A, parallel arrays."""

    a: np.ndarray
    b: np.ndarray
    human: np.ndarray
    judge: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """A board's calibration: the fit, or None with the reason; `n_labelled` battles it rests on."""

    result: CalibratedResult | None
    n_labelled: int
    message: str


def labelled_rows_read() -> dict[tuple[int, int], LabelledRows]:
    """(source id, dimension id) → the labelled battles of every judge and jury source that has some, in the
    order of their battles (then verdicts): one query, read as numpy columns."""
    # Battles people were served first because judges disputed them are no fair sample of the judge's
    # battles (their errors are why they were chosen): they would exaggerate the correction, so they are out
    # (in the query).
    kinds = dict(Source.objects.values_list("id", "kind"))
    people = counted_where(
        source_ids=[pk for pk, kind in kinds.items() if kind == Source.Kind.HUMAN], dimension_ids=None
    )
    judged = counted_where(
        source_ids=[pk for pk, kind in kinds.items() if kind in CALIBRATED_KINDS], dimension_ids=None
    )
    if people is None or judged is None:
        return {}
    query = labelled_query(people=people, judged=judged)
    ints = ("source", "dimension", "battle", "verdict", "a", "b")
    rows = sql_columns(
        query.sql, query.params, dict.fromkeys(ints, "int") | {"human": "float", "judge": "float"}
    )
    return _by_source_and_dimension(rows)


def labelled_rows_of(verdicts: dict[str, np.ndarray]) -> dict[tuple[int, int], LabelledRows]:
    """`labelled_rows_read` from the columns of every counted verdict the recompute read already
    (`aggregation.verdict_columns_read` with outcomes, and ids if a calibrated source exists): no second pass over the verdict table, and
    the labelled battles come from the same consistent read as the boards. The same rows, except that the
    people's mean score is summed by numpy rather than PostgreSQL (the last bits may differ with three or
    more soft votes on a battle)."""
    kinds = dict(Source.objects.values_list("id", "kind"))
    people_ids = [pk for pk, kind in kinds.items() if kind == Source.Kind.HUMAN]
    judged_ids = [pk for pk, kind in kinds.items() if kind in CALIBRATED_KINDS]
    if not people_ids or not judged_ids:  # as labelled_rows_read; the columns need no ids then
        return {}
    routed = routed_battles_query()
    routed_ids = sql_columns(routed.sql, routed.params, {"battle": "int"})["battle"]
    source, battle, dimension = verdicts["source"], verdicts["battle"], verdicts["dimension"]
    # As labelled_query: people's votes outside the routed battles, averaged per battle and dimension ...
    voted = np.flatnonzero(np.isin(source, people_ids) & ~np.isin(battle, routed_ids))
    per_battle = row_groups({"battle": battle[voted], "dimension": dimension[voted]})
    mean = per_battle.sum(verdicts["score"][voted]) / per_battle.count()
    labelled_battle, labelled_dimension = battle[voted][per_battle.first], dimension[voted][per_battle.first]
    # ... joined to the calibrated sources' hard verdicts on the same battle and dimension.
    judged = np.flatnonzero(np.isin(source, judged_ids) & (verdicts["outcome"] != SOFT_CODE))
    at = _row_of(labelled_battle, labelled_dimension, battle[judged], dimension[judged])
    judged, at = judged[at >= 0], at[at >= 0]
    rows = {name: verdicts[name][judged] for name in ("source", "dimension", "battle", "verdict", "a", "b")}
    return _by_source_and_dimension(rows | {"human": mean[at], "judge": verdicts["score"][judged]})


def _row_of(
    battles: np.ndarray, dimensions: np.ndarray, battle: np.ndarray, dimension: np.ndarray
) -> np.ndarray:
    """The index of each (`battle`, `dimension`) among the distinct pairs (`battles`, `dimensions`), which are
    sorted by battle then dimension (as `row_groups` numbers its groups); -1 where absent."""
    codes = np.unique(dimensions)  # a few: one key per pair, battle · len(codes) + dimension's code
    known = np.isin(dimension, codes)
    keys = battles * len(codes) + np.searchsorted(codes, dimensions)
    wanted = battle * len(codes) + np.minimum(np.searchsorted(codes, dimension), max(len(codes) - 1, 0))
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    hit = known & (keys[at] == wanted) if len(keys) else np.zeros(len(battle), dtype=bool)
    return np.where(hit, at, -1)


def _by_source_and_dimension(rows: dict[str, np.ndarray]) -> dict[tuple[int, int], LabelledRows]:
    order = np.lexsort((rows["verdict"], rows["battle"]))
    rows = {name: column[order] for name, column in rows.items()}
    groups = row_groups({"source": rows["source"], "dimension": rows["dimension"]})
    labelled = {}
    for g, first in enumerate(groups.first.tolist()):
        inside = np.flatnonzero(groups.group_of == g)  # ascending: battle order within the group
        labelled[int(rows["source"][first]), int(rows["dimension"][first])] = LabelledRows(
            rows["a"][inside], rows["b"][inside], rows["human"][inside], rows["judge"][inside]
        )
    return labelled


def calibrated_sources_exist() -> bool:
    """Whether some source is of a calibrated kind (else no board is calibrated, and nothing labelled)."""
    return Source.objects.filter(kind__in=CALIBRATED_KINDS).exists()


def board_is_calibrated(board: BoardInput) -> bool:
    """Judge and jury boards over all categories are calibrated by people; no other board is."""
    return board.key.category == ALL_CATEGORIES and board.key.source.kind in CALIBRATED_KINDS


def board_labelled(board: BoardInput, labelled: dict[tuple[int, int], LabelledRows]) -> LabelledRows | None:
    """The labelled battles `board_calibrate` uses for `board` (None: not calibrated, or none labelled)."""
    if not board_is_calibrated(board):
        return None
    return labelled.get((board.key.source.source_id, board.key.dimension_id))


def board_calibrate(
    board: BoardInput, fit: BoardFit, labelled: dict[tuple[int, int], LabelledRows], settings: FitSettings
) -> Calibration | None:
    """The calibration of a judge or jury board over all categories (None for any other board)."""
    if not board_is_calibrated(board):
        return None
    if fit.status != "ok":
        return Calibration(None, 0, "Not calibrated: the judge's own leaderboard could not be fitted.")
    slice_ = _on_board(board_labelled(board, labelled), board)
    n = 0 if slice_ is None else len(slice_)
    if n < settings.calibration_min_labelled:
        return Calibration(
            None,
            n,
            f"Not calibrated: {n} battle{'s' if n != 1 else ''} judged by both this judge and people; "
            f"at least {settings.calibration_min_labelled} are needed (setting "
            "LEADERBOARD_CALIBRATION_MIN_LABELLED).",
        )
    try:
        result = fit_calibrated_bradley_terry(
            board.data.counts,
            slice_,
            bootstrap_rounds=settings.calibration_bootstrap_rounds,
            seed=settings.seed,
        )
    except (RatingError, np.linalg.LinAlgError) as error:
        return Calibration(None, n, f"Not calibrated: {error}.")
    return Calibration(result, n, "")


def _on_board(rows: LabelledRows | None, board: BoardInput) -> LabelledBattles | None:
    """The labelled battles as indices into the board's contenders (sorted ids); battles of contenders the
    board does not hold (it cannot happen when both read the same verdicts) are left out."""
    if rows is None:
        return None
    ids = np.asarray(board.data.contender_ids, dtype=np.int64)
    inside = np.isin(rows.a, ids) & np.isin(rows.b, ids)
    return LabelledBattles(
        np.searchsorted(ids, rows.a[inside]),
        np.searchsorted(ids, rows.b[inside]),
        rows.human[inside],
        rows.judge[inside],
    )
