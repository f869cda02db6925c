"""Win rates: against one baseline (AlpacaEval style), averaged over opponents, and pair by pair.

A win rate is a mean score, so ties and both-bad count 0.5 and soft verdicts count their value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .counts import PairCounts
from .errors import RatingError


def win_fraction_matrix(counts: PairCounts) -> np.ndarray:
    """``F[i, j]``: i's mean score against j, in [0, 1]; NaN where they never met (and on the diagonal)."""
    battles = counts.battles
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(battles > 0, counts.comparison_matrix / battles, np.nan)


def battle_count_matrix(counts: PairCounts) -> np.ndarray:
    """``N[i, j]``: how many battles i and j fought (symmetric)."""
    return counts.battles


def average_win_rate(counts: PairCounts) -> np.ndarray:
    """Mean over the opponents each contender met of its win fraction against them (NaN if it met none).

    Every opponent weighs the same whatever the number of battles, so the figure does not depend on who
    happened to be paired most often.
    """
    fractions = win_fraction_matrix(counts)
    met = np.isfinite(fractions).sum(axis=1)
    return np.where(met > 0, np.nansum(fractions, axis=1) / np.maximum(met, 1), np.nan)


@dataclass(frozen=True)
class WinRateResult:
    """Each contender's mean score against ``baseline`` as a fraction in [0, 1], with its standard error.

    ``win_rate`` is NaN for a contender that never met the baseline; ``standard_error`` (sample standard
    deviation of the per-battle scores over √n) is NaN below two battles. The baseline itself is left out.
    """

    models: tuple[str, ...]
    baseline: str
    win_rate: np.ndarray
    standard_error: np.ndarray
    n: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """``{"model", "win_rate", "standard_error", "n"}`` in percent, best first; ``None`` for NaN."""
        order = sorted(
            range(len(self.models)),
            key=lambda i: (-np.nan_to_num(self.win_rate[i], nan=-1.0), self.models[i]),
        )
        return [
            {
                "model": self.models[i],
                "win_rate": _percent(self.win_rate[i]),
                "standard_error": _percent(self.standard_error[i]),
                "n": int(round(float(self.n[i]))),
            }
            for i in order
        ]


def win_rate_against(counts: PairCounts, baseline: str) -> WinRateResult:
    """Win rate of every other contender against ``baseline``, from aggregated scores and squared scores."""
    base = counts.index_of(baseline)
    others = np.array([i for i in range(counts.n_models) if i != base], dtype=np.intp)
    if len(others) == 0:
        raise RatingError(f"no contender other than the baseline {baseline!r}")
    n = counts.battles[others, base]
    total = counts.comparison_matrix[others, base]
    squares = counts.score_squares[others, base]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        variance = np.where(n > 1, (squares - n * mean**2) / (n - 1), np.nan)
        error = np.sqrt(np.clip(variance, 0.0, None) / n)
    models = tuple(counts.models[i] for i in others)
    return WinRateResult(models, baseline, mean, error, n)


def _percent(fraction: float) -> float | None:
    return None if math.isnan(fraction) else 100.0 * float(fraction)
