"""A straightforward reference for style control: one row per verdict, a dense design matrix, scipy's solver.

Deliberately shares nothing with the production path but the model's definition (leaderboard/rating/style.py):
features ``(a − b)/(a + b + 1)`` z-scored over battles, ``P(A wins) = logistic(θ_A − θ_B + γ · z)``, ties
and soft verdicts as fractional targets, a N(0, σ²) prior on each γ, ratings on the Elo scale around a mean
of 1000. No merging, no weights, no grouping: one row per verdict in a dense design matrix with θ_0 pinned
at 0 (instead of centring), fitted by textbook iteratively reweighted least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ELO_PER_LOGIT = 400 / math.log(10)


@dataclass(frozen=True)
class Verdicts:
    """Battles (contender indices, both answers' raw style counts, battles × 4) and verdicts on them."""

    n_models: int
    a: np.ndarray
    b: np.ndarray
    style_a: np.ndarray
    style_b: np.ndarray
    battle: np.ndarray  # per verdict: index of its battle
    score: np.ndarray  # per verdict: A's score in [0, 1]


def reference_style_fit(data: Verdicts, prior_sd: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(Elo ratings, style coefficients) maximising the posterior over single verdicts (to ~1e-11 logits)."""
    normalised = (data.style_a - data.style_b) / (data.style_a + data.style_b + 1)
    spread = normalised.std(axis=0)
    z = np.where(spread > 0, (normalised - normalised.mean(axis=0)) / np.where(spread > 0, spread, 1), 0)
    indicators = np.zeros((len(data.a), data.n_models))
    indicators[np.arange(len(data.a)), data.a] += 1
    indicators[np.arange(len(data.a)), data.b] -= 1
    design = np.hstack([indicators[:, 1:], z])[data.battle]  # θ_0 = 0 identifies the θ
    n_theta = data.n_models - 1
    precision = np.r_[np.zeros(n_theta), np.full(z.shape[1], 0.0 if math.isinf(prior_sd) else prior_sd**-2)]

    beta = _irls(design, data.score, precision)
    theta = np.r_[0.0, beta[:n_theta]]
    return 1000 + ELO_PER_LOGIT * (theta - theta.mean()), beta[n_theta:]


def _irls(design: np.ndarray, y: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Textbook Newton–Raphson for penalised logistic regression on a dense design (R's glm algorithm)."""
    beta = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(design @ beta)))
        information = (design * (p * (1 - p))[:, None]).T @ design + np.diag(precision)
        step = np.linalg.solve(information, design.T @ (y - p) - precision * beta)
        beta += step
        if np.abs(step).max() < 1e-11:
            return beta
    raise AssertionError("the reference fit did not converge")


def simulated_verdicts(seed: int, *, n_models: int = 6, n_battles: int = 3000, effects=(0.5, 0.0, 0.0, -0.3)):
    """Battles whose outcomes depend on strengths and on style (length favoured, bold disfavoured), and
    whose contenders have their own habits, so that holding style constant moves their ratings."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.5, n_models)
    habit = rng.uniform(0.5, 2.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + 1 + rng.integers(0, n_models - 1, n_battles)) % n_models
    style_a, style_b = (_styles(rng, habit[side]) for side in (a, b))
    normalised = (style_a - style_b) / (style_a + style_b + 1)
    z = (normalised - normalised.mean(axis=0)) / normalised.std(axis=0)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + z @ np.asarray(effects))))
    battle = np.repeat(np.arange(n_battles), rng.integers(1, 4, n_battles))  # 1–3 verdicts each
    tie = rng.random(len(battle)) < 0.15
    score = np.where(tie, 0.5, (rng.random(len(battle)) < p[battle]).astype(float))
    return Verdicts(n_models, a, b, style_a, style_b, battle, score)


def _styles(rng, habit: np.ndarray) -> np.ndarray:
    n = len(habit)
    length = (rng.lognormal(6, 0.5, n) * habit).astype(int)
    return np.column_stack(
        [length, rng.poisson(habit), rng.poisson(3 * habit), rng.poisson(2 * habit)]
    ).astype(float)


def per_battle(data: Verdicts) -> tuple[np.ndarray, np.ndarray]:
    """(A's mean score, number of verdicts) per battle: the rows the production path fits."""
    counts = np.bincount(data.battle, minlength=len(data.a)).astype(float)
    return np.bincount(data.battle, data.score, len(data.a)) / counts, counts
