"""Battles in time order: the input of online Elo and the source of aggregated counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RatingError


@dataclass(frozen=True)
class BattleSequence:
    """Battles as parallel arrays, oldest first.

    ``a[k]`` and ``b[k]`` index ``models``; ``score[k]`` is the score of ``a[k]`` in [0, 1]:
    1 a win, 0 a loss, 0.5 a tie or both-bad, anything between a soft verdict.
    """

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        validate_battle_arrays(len(self.models), self.a, self.b, self.score)

    def __len__(self) -> int:
        return len(self.a)

    def take(self, indices: np.ndarray) -> BattleSequence:
        """The battles at ``indices``, in the order given (used by the Elo bootstrap)."""
        return BattleSequence(self.models, self.a[indices], self.b[indices], self.score[indices])

    def without_ties(self) -> BattleSequence:
        """The battles not scored exactly 0.5 (ties, both-bad, even soft draws), in order."""
        return self.take(np.flatnonzero(self.score != 0.5))


def validate_battle_arrays(n_models: int, a: np.ndarray, b: np.ndarray, score: np.ndarray) -> None:
    """Raise :class:`RatingError` unless the arrays describe valid battles between ``n_models`` models."""
    if not (len(a) == len(b) == len(score)):
        raise RatingError(f"battle arrays differ in length: a={len(a)}, b={len(b)}, score={len(score)}")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_models):
        raise RatingError(f"a model index is outside 0..{n_models - 1}")
    if np.any(a == b):
        first = int(np.flatnonzero(a == b)[0])
        raise RatingError(f"battle {first} pits a model against itself")
    if not np.all((score >= 0.0) & (score <= 1.0)):
        first = int(np.flatnonzero(~((score >= 0.0) & (score <= 1.0)))[0])
        raise RatingError(f"battle {first} has score {score[first]!r}; scores must lie in [0, 1]")
