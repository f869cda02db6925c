"""Confidence intervals from bootstrap samples, and the rank they imply."""

from __future__ import annotations

import numpy as np


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Per-column percentile interval of ``samples`` (rounds × contenders), e.g. 2.5 % and 97.5 %."""
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return low, high


def rank_upper_bound(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """Rank (UB): 1 + how many contenders have a lower bound above this one's upper bound.

    A contender is only ranked below those it is confidently worse than, so ties in rank are common.
    Pass the point ratings as both bounds when there is no interval.
    """
    return 1 + (ci_low[np.newaxis, :] > ci_high[:, np.newaxis]).sum(axis=1)
