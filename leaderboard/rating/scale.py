"""The Elo display scale and where it is anchored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import RatingError

# One natural-log unit of Bradley–Terry strength is this many Elo points: with base 10 and scale 400,
# P(i beats j) = 1 / (1 + 10^((r_j − r_i) / 400)) = logistic(θ_i − θ_j) when r = θ · 400 / ln 10.
ELO_POINTS_PER_LOGIT = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class Anchor:
    """Fixes the free additive constant of a rating scale.

    With ``model=None`` the mean rating equals ``rating``; otherwise ``model`` gets exactly ``rating``.
    """

    rating: float = 1000.0
    model: str | None = None

    def apply(self, ratings: np.ndarray, models: Sequence[str]) -> np.ndarray:
        """``ratings`` shifted so that the anchor holds (a new array)."""
        if self.model is None:
            return ratings - ratings.mean() + self.rating
        return ratings - ratings[self._position(models)] + self.rating

    def apply_rows(self, ratings: np.ndarray, models: Sequence[str]) -> np.ndarray:
        """:meth:`apply` to every row of ``ratings`` (rounds × models), as a new array."""
        if self.model is None:
            return ratings - ratings.mean(axis=1, keepdims=True) + self.rating
        at = self._position(models)
        return ratings - ratings[:, at : at + 1] + self.rating

    def _position(self, models: Sequence[str]) -> int:
        model = self.model
        if model is None or model not in models:
            raise RatingError(f"anchor model {model!r} is not among the contenders: {', '.join(models)}")
        return list(models).index(model)

    def for_component(self, models: Sequence[str]) -> Anchor:
        """The anchor one component uses: the named model where it lives, the mean elsewhere."""
        return self if self.model is None or self.model in models else Anchor(self.rating)

    def describe(self) -> dict[str, float | str | None]:
        return {"rating": self.rating, "model": self.model}


DEFAULT_ANCHOR = Anchor()


def logits_to_elo(theta: np.ndarray, models: Sequence[str], anchor: Anchor) -> np.ndarray:
    """Bradley–Terry log-strengths (natural log) → anchored Elo-scale ratings."""
    return anchor.apply(ELO_POINTS_PER_LOGIT * np.asarray(theta, dtype=float), models)
