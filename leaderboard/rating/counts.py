"""Aggregated outcomes per ordered pair of contenders: what every batch fit works on.

Cost grows with the number of contenders squared, never with the number of votes: battles are folded into
matrices once (here with ``np.bincount``, in the database with ``GROUP BY``) and fits only read the matrices.

A verdict with score ``s`` for A (1 win, 0 loss, 0.5 tie or both-bad, anything between a soft verdict) is
split into a *win mass* ``|2s − 1|`` credited to the side it favours and a *tie mass* ``1 − |2s − 1|``.
Hard outcomes map onto whole wins and whole ties; a soft 0.8 becomes 0.6 of a win plus 0.4 of a tie.
Either way ``wins[i, j] + ties[i, j] / 2`` is i's total score against j, which is all Bradley–Terry needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import RatingError
from .sequence import BattleSequence, validate_battle_arrays


@dataclass(frozen=True)
class PairCounts:
    """Outcome masses between ``n = len(models)`` contenders.

    ``wins[i, j]``: win mass of i over j (a count when verdicts are hard).
    ``ties[i, j]``: tie mass between i and j, symmetric (ties and both-bad together).
    ``score_squares[i, j]``: sum over their battles of i's score squared; only the standard error of a
    win rate needs it, because soft verdicts make it differ from ``wins + ties / 4``.
    """

    models: tuple[str, ...]
    wins: np.ndarray
    ties: np.ndarray
    score_squares: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def comparison_matrix(self) -> np.ndarray:
        """``W[i, j] = wins(i over j) + 0.5·ties(i, j)``: the input of ``choix.ilsr_pairwise_dense``."""
        return self.wins + 0.5 * self.ties

    @property
    def battles(self) -> np.ndarray:
        """``battles[i, j]``: how many battles i and j fought (symmetric, zero diagonal)."""
        return self.wins + self.wins.T + self.ties

    @property
    def battles_per_model(self) -> np.ndarray:
        return self.battles.sum(axis=1)

    def index_of(self, model: str) -> int:
        """Position of ``model``, or :class:`RatingError` naming the known contenders."""
        try:
            return self.models.index(model)
        except ValueError:
            known = ", ".join(self.models)
            raise RatingError(f"unknown contender {model!r}; known contenders: {known}") from None

    def subset(self, indices: np.ndarray) -> PairCounts:
        """The counts restricted to the contenders at ``indices`` (used for per-component fits)."""
        grid = np.ix_(indices, indices)
        models = tuple(self.models[i] for i in indices)
        return PairCounts(models, self.wins[grid], self.ties[grid], self.score_squares[grid])


def pair_counts_from_scores(
    models: Sequence[str],
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    weights: np.ndarray | None = None,
) -> PairCounts:
    """Fold battles, or rows already grouped by (a, b, score), into :class:`PairCounts`.

    ``score`` is A's score in [0, 1]. ``weights`` (default 1 each) lets a row stand for many battles, so
    the result of ``SELECT a, b, score, COUNT(*) ... GROUP BY a, b, score`` can be passed straight in
    (map outcomes first: a → 1, b → 0, tie and both_bad → 0.5).
    """
    a, b = np.asarray(a, dtype=np.intp), np.asarray(b, dtype=np.intp)
    score = np.asarray(score, dtype=float)
    validate_battle_arrays(len(models), a, b, score)
    mass = np.ones(len(a)) if weights is None else _validated_weights(weights, len(a))
    n = len(models)
    forward, backward = a * n + b, b * n + a
    lead = 2.0 * score - 1.0
    wins = _fold(forward, np.clip(lead, 0.0, None) * mass, n) + _fold(
        backward, np.clip(-lead, 0.0, None) * mass, n
    )
    ties = _fold(forward, (1.0 - np.abs(lead)) * mass, n)
    squares = _fold(forward, score**2 * mass, n) + _fold(backward, (1.0 - score) ** 2 * mass, n)
    return PairCounts(tuple(models), wins, ties + ties.T, squares)


def pair_counts_from_sequence(sequence: BattleSequence) -> PairCounts:
    return pair_counts_from_scores(sequence.models, sequence.a, sequence.b, sequence.score)


def _fold(flat_index: np.ndarray, mass: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(flat_index, weights=mass, minlength=n * n).reshape(n, n)


def _validated_weights(weights: np.ndarray, length: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (length,) or not np.all(np.isfinite(weights) & (weights >= 0)):
        raise RatingError(f"weights must be {length} finite non-negative numbers")
    return weights
