"""Fixtures for leaderboard tests: quick fits by default, and a rated arena for pages, exports and the API."""

from __future__ import annotations

import pytest

from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add


@pytest.fixture(autouse=True)
def quick_fits(settings):
    """Few bootstrap rounds unless a test asks for more: tests check plumbing, the core's tests check maths."""
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 20
    settings.LEADERBOARD_MIN_VERDICTS = 5
    return settings


@pytest.fixture
def rated_arena(db):
    """Four approved contenders plus a pending one, verdicts from people and two judges, and one run."""
    arena = arena_make(("alpha", "beta", "gamma", "delta", "omega"), statuses={"omega": "pending"})
    verdicts_add(arena.battles, seed=1)
    verdicts_add(arena.battles, seed=4, dimension="helpfulness", votes_per_battle=2)
    verdicts_add(arena.battles, source=judge_source("judge-gpt", "GPT judge"), seed=2)
    verdicts_add(
        arena.battles,
        source=judge_source("judge-llama", "Llama judge"),
        seed=3,
        strengths={"gamma": 40, "delta": 30, "beta": 10, "alpha": 0, "omega": 0},
    )
    arena.run = leaderboards_recompute(trigger="test")
    return arena
