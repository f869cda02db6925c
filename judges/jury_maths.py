"""How a jury of LLM judges combines its members' verdicts: pure functions over arrays, no Django.

A member's verdict on a battle is a *vote* x ∈ {+1 (A better), −1 (B better), 0 (tie, or no verdict)}; the
same holds for a member's positional choice in one answer order (+1 the answer shown first).

- **Majority**: the side with more votes wins; as many for A as for B is a tie (ties abstain, so two judges
  saying A and one saying tie give A).
- **Learned weights**: a logistic model P(people prefer A) = σ(Σ_m w_m·x_m), fitted to the people's strict
  majority (A or B; draws left out) on the battles people and the members both judged, with a ridge penalty
  so that few battles give modest weights. No intercept: swapping the answers flips every vote, and the
  jury's verdict flips with it. The jury says A when σ ≥ 0.5 + TIE_MARGIN, B when σ ≤ 0.5 − TIE_MARGIN,
  and tie in between — so a jury of judges that contradict each other with equal weight says tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VOTE = {"a": 1.0, "b": -1.0, "tie": 0.0, "both_bad": 0.0}
POSITION_VOTE = {"A": 1.0, "B": -1.0, "tie": 0.0}
# Half-width of the probability band around ½ read as a tie (learned weights): 0.05 means a jury needs at
# least 55 % confidence to take a side.
TIE_MARGIN = 0.05
# Ridge penalty on the weights (a Gaussian prior of variance 1/RIDGE): with a few dozen battles the fitted
# weights stay near a couple of logits instead of running off when a member always agreed with people.
RIDGE = 1.0
_NEWTON_STEPS = 50


@dataclass(frozen=True)
class FittedWeights:
    """Per-member weights (aligned with the members given), how many battles they were fitted on."""

    weights: np.ndarray
    n_fitted: int


def majority_choice(votes: np.ndarray) -> np.ndarray:
    """Per row of ``votes`` (battles × members, entries +1/−1/0): +1, −1 or 0 by simple majority."""
    return np.sign(np.asarray(votes, dtype=float).sum(axis=1))


def weighted_choice(votes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row: +1, −1 or 0 from the learned model, with the tie band of ``TIE_MARGIN``."""
    p = _sigmoid(np.asarray(votes, dtype=float) @ np.asarray(weights, dtype=float))
    return np.where(p >= 0.5 + TIE_MARGIN, 1.0, np.where(p <= 0.5 - TIE_MARGIN, -1.0, 0.0))


def weights_fit(votes: np.ndarray, people_prefer_a: np.ndarray) -> FittedWeights:
    """Ridge logistic regression without intercept of people's choice (1: A, 0: B) on the members' votes.

    Newton's method on a strictly convex objective (the ridge makes it so), hence a unique answer.
    """
    x = np.asarray(votes, dtype=float)
    y = np.asarray(people_prefer_a, dtype=float)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"votes must be battles × members and match {len(y)} people's choices")
    weights = np.zeros(x.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = _sigmoid(x @ weights)
        gradient = x.T @ (p - y) + RIDGE * weights
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + RIDGE * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return FittedWeights(weights, len(y))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
