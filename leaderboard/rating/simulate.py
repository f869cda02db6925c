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


def simulate_judged_battles(
    true_ratings: np.ndarray,
    judge_bias: np.ndarray,
    n_battles: int,
    n_labelled: int,
    rng: np.random.Generator,
) -> tuple[BattleSequence, np.ndarray]:
    """Battles judged by a biased LLM judge, the first ``n_labelled`` also by people.

    People follow Bradley–Terry on ``true_ratings``; the judge on ``true_ratings + judge_bias`` (Elo points),
    e.g. a judge that favours one contender's style. Both see the same battle: one uniform draw decides both
    outcomes (A wins for whoever's P(A wins) exceeds it), so they agree except where their probabilities
    differ, as a judge and people reading the same two answers mostly would. Pairs are drawn uniformly, so
    the labelled battles are a random sample of the judged ones. Returns the judge's battles and the people's
    scores for A on the first ``n_labelled`` (hard outcomes, no ties).
    """
    true_ratings = np.asarray(true_ratings, dtype=float)
    n = len(true_ratings)
    a = rng.integers(0, n, size=n_battles)
    b = rng.integers(0, n - 1, size=n_battles)
    b += b >= a
    judged = true_ratings + np.asarray(judge_bias, dtype=float)
    u = rng.random(n_battles)
    p_people = 1.0 / (1.0 + np.exp(-(true_ratings[a] - true_ratings[b]) / ELO_POINTS_PER_LOGIT))
    p_judge = 1.0 / (1.0 + np.exp(-(judged[a] - judged[b]) / ELO_POINTS_PER_LOGIT))
    judge_score = (u < p_judge).astype(float)
    people_score = (u[:n_labelled] < p_people[:n_labelled]).astype(float)
    models = tuple(f"model-{i:03d}" for i in range(n))
    return BattleSequence(models, a, b, judge_score), people_score
