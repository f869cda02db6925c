"""Leaderboard read API (issue #3)."""

from ninja import Router

router = Router(tags=["leaderboard"])
