"""Which rows of a leaderboard are ranked, and how they moved since an earlier run.

A row is *incomplete* when its contender answered fewer than `ARENA_MIN_COVERAGE` percent of the prompts
the leaderboard uses (it is listed apart, never ranked); *provisional* while its 95 % interval is at least
`LEADERBOARD_PROVISIONAL_CI` points wide (or missing) and it has fewer than `LEADERBOARD_MIN_VOTES` votes
(shown greyed, unranked); *ranked* otherwise. Ranks are counted among ranked rows only, the stored way
(1 + the number of ranked rows confidently better), so thin data never pushes a row to #1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from leaderboard.selectors.board import ContenderRow

RANKED = "ranked"
PROVISIONAL = "provisional"
INCOMPLETE = "incomplete"


def standing_of(row: ContenderRow) -> str:
    if row.prompts_total and 100 * row.prompts_answered < settings.ARENA_MIN_COVERAGE * row.prompts_total:
        return INCOMPLETE
    if row.votes >= settings.LEADERBOARD_MIN_VOTES:
        return RANKED
    width = row.interval_width
    if width is not None and width < settings.LEADERBOARD_PROVISIONAL_CI:
        return RANKED
    return PROVISIONAL


def _confidently_better(other: ContenderRow, row: ContenderRow) -> bool:
    if other.ci_low is not None and row.ci_high is not None:
        return other.ci_low > row.ci_high
    return other.rating > row.rating  # no intervals stored (bootstrap off): the ratings decide


def standings_apply(rows: Iterable[ContenderRow]) -> list[ContenderRow]:
    """The rows with `standing` and `rank` set (rank None unless ranked); order kept."""
    rows = [replace(row, standing=standing_of(row), rank=None) for row in rows]
    ranked = [row for row in rows if row.standing == RANKED]
    return [
        replace(row, rank=1 + sum(_confidently_better(o, row) for o in ranked))
        if row.standing == RANKED
        else row
        for row in rows
    ]


def changes_apply(rows: list[ContenderRow], earlier: list[ContenderRow]) -> list[ContenderRow]:
    """Rating and rank change of each row since `earlier` (the same leaderboard in an older run).

    `rank_change` is positive for a move up (rank 3 → 1 is +2) and set only when ranked both times;
    `is_new` marks a contender absent from the earlier board."""
    before = {row.contender_id: row for row in earlier}
    changed = []
    for row in rows:
        old = before.get(row.contender_id)
        if old is None:
            changed.append(replace(row, is_new=bool(earlier)))
            continue
        rank_change = old.rank - row.rank if old.rank is not None and row.rank is not None else None
        changed.append(replace(row, rating_change=row.rating - old.rating, rank_change=rank_change))
    return changed
