"""Synthetic battles from known ratings, for recovery tests and benchmarks."""

from __future__ import annotations

import numpy as np

from .scale import ELO_POINTS_PER_LOGIT
from .sequence import BattleSequence


def simulate_battles(
    true_ratings: np.ndarray,
    n_battles: int,
    rng: np.random.Generator,
    *,
    tie_rate: float = 0.0,
) -> BattleSequence:
    """Battles between uniformly drawn distinct pairs, outcomes drawn from Bradley–Terry on the Elo scale.

    Ties are drawn so that A's *expected score* stays exactly ``p = P(A beats B)`` — the model the fits
    assume when a tie counts half a win each way: a tie with probability ``t``, a win with ``p − t/2``.
    ``t`` is ``tie_rate`` capped at ``2·min(p, 1 − p)`` so that lopsided pairs stay possible; with ratings
    spread by a few hundred points the overall tie share is close to ``tie_rate``.
    """
    true_ratings = np.asarray(true_ratings, dtype=float)
    n = len(true_ratings)
    a = rng.integers(0, n, size=n_battles)
    b = rng.integers(0, n - 1, size=n_battles)
    b += b >= a  # uniform over the other n − 1 contenders
    p = 1.0 / (1.0 + np.exp(-(true_ratings[a] - true_ratings[b]) / ELO_POINTS_PER_LOGIT))
    tie = np.minimum(tie_rate, 2.0 * np.minimum(p, 1.0 - p))
    u = rng.random(n_battles)
    score = np.where(u < tie, 0.5, np.where(u < p + tie / 2.0, 1.0, 0.0))
    models = tuple(f"model-{i:03d}" for i in range(n))
    return BattleSequence(models, a, b, score)
