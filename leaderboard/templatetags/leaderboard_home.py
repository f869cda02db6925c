"""The top of the main leaderboard, for pages outside the leaderboard app (the home page)."""

from __future__ import annotations

from django import template

from leaderboard.query import board_query_parse
from leaderboard.selectors.board import board_get, runs_recent

register = template.Library()


@register.simple_tag
def leaderboard_top(limit: int = 5) -> dict:
    """The default board (the leaderboard page without parameters): its best `limit` rows by rank, the
    snapshot's dimension and source, and the latest finished runs (for "recent activity")."""
    board = board_get(board_query_parse({}))
    rows = sorted(board.rows, key=lambda row: (row.rank_ub, row.position))[:limit]
    return {"board": board, "rows": rows, "runs": runs_recent(limit=3)}
