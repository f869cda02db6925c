"""The one result type every rating method returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .graph import Diagnostics
from .intervals import percentile_interval, rank_upper_bound


@dataclass(frozen=True)
class RatingResult:
    """Ratings on the Elo scale, one entry per contender, aligned with ``models``.

    ``ci_low`` / ``ci_high`` are the 95 % bootstrap percentile bounds around the full-data estimate, or
    ``None`` when no bootstrap was run. ``rank_ub`` is 1 + the number of contenders confidently better
    (using the points as bounds without a bootstrap). ``n`` counts battles per contender. ``params`` holds
    the JSON-friendly settings of the fit, ``diagnostics`` what was found about the data.
    """

    models: tuple[str, ...]
    ratings: np.ndarray
    ci_low: np.ndarray | None
    ci_high: np.ndarray | None
    rank_ub: np.ndarray
    n: np.ndarray
    method: str
    params: dict[str, Any]
    diagnostics: Diagnostics

    def to_rows(self) -> list[dict[str, Any]]:
        """``{"model", "rating", "ci_low", "ci_high", "rank_ub", "n"}`` per contender, best first.

        Bounds are ``None`` without a bootstrap (not NaN, not the point: there is no interval to show).
        """
        order = sorted(range(len(self.models)), key=lambda i: (-self.ratings[i], self.models[i]))
        return [self._row(i) for i in order]

    def _row(self, i: int) -> dict[str, Any]:
        return {
            "model": self.models[i],
            "rating": float(self.ratings[i]),
            "ci_low": None if self.ci_low is None else float(self.ci_low[i]),
            "ci_high": None if self.ci_high is None else float(self.ci_high[i]),
            "rank_ub": int(self.rank_ub[i]),
            "n": int(round(float(self.n[i]))),
        }


def rating_result(
    *,
    models: tuple[str, ...],
    ratings: np.ndarray,
    samples: np.ndarray | None,
    n: np.ndarray,
    method: str,
    params: dict[str, Any],
    diagnostics: Diagnostics,
) -> RatingResult:
    """Assemble a :class:`RatingResult` from point ratings and optional bootstrap ``samples`` (rounds × n)."""
    if samples is None or len(samples) == 0:
        low = high = None
        rank = rank_upper_bound(ratings, ratings)
    else:
        low, high = percentile_interval(samples)
        rank = rank_upper_bound(low, high)
    return RatingResult(models, ratings, low, high, rank, n, method, params, diagnostics)
