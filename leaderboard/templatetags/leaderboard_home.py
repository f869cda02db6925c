"""The top of the main leaderboard, for pages outside the leaderboard app (the home page)."""

from __future__ import annotations

from django import template

from leaderboard.board_query import board_query_parse
from leaderboard.selectors.board import board_get, runs_recent

register = template.Library()


@register.simple_tag
def leaderboard_top(limit: int = 5) -> dict:
    """The default board (the leaderboard page without parameters): its first `limit` rows in the page's
    order (ranked rows by rank, then provisional ones, which have no rank), the snapshot's dimension and
    source, and the latest finished runs (for "recent activity")."""
    board = board_get(board_query_parse({}))
    rows = board.rows[:limit]
    return {"board": board, "rows": rows, "runs": runs_recent(limit=3)}
