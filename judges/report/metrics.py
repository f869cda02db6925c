"""Report-card statistics for an LLM judge or a jury: pure functions over numpy arrays (no Django).

Conventions shared by every function here:
- a *position label* is what a judge said in one order: ``FIRST`` (the answer shown first), ``SECOND``,
  ``TIE``, or ``ERROR`` (unparsed or failed; never silently a tie);
- a *side label* is about the battle: ``A``, ``B`` or ``DRAW`` (a tie and "both bad" score the same, so they
  are one label, as on the leaderboard);
- intervals are 95 % percentile bootstrap intervals over *clusters* (battles): every item of a resampled
  battle comes along, so two orders of one battle or several votes on it are never treated as independent.

A `Figure` carries a value, the number of items it rests on (`n`) and, where an interval makes sense, its
bounds. Values are None when there is nothing to compute them on (n = 0), never a made-up default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import krippendorff
import numpy as np
from scipy import stats

FIRST, SECOND, TIE, ERROR = 0, 1, 2, 3
A, B, DRAW = 0, 1, 2
POSITION_CLASSES = ("consistent", "biased_first", "biased_second", "other", "error")
LEVEL = 0.95
# Bootstrap draws are made in blocks so memory stays bounded (rounds × clusters integers per block).
_BLOCK_CELLS = 2_000_000


@dataclass(frozen=True)
class Figure:
    """One figure of the report card: `value` with its sample size `n` and 95 % bounds (None if absent)."""

    value: float | None
    n: int
    low: float | None = None
    high: float | None = None

    def as_dict(self) -> dict:
        return {"value": self.value, "n": self.n, "low": self.low, "high": self.high}


def _tail() -> tuple[float, float]:
    tail = 100.0 * (1.0 - LEVEL) / 2.0
    return tail, 100.0 - tail


def _resample_counts(n_clusters: int, rounds: int, rng: np.random.Generator):
    """Yield blocks of (rounds × clusters) multiplicities: how often each cluster is drawn in each round."""
    per_block = max(1, _BLOCK_CELLS // max(n_clusters, 1))
    done = 0
    while done < rounds:
        block = min(per_block, rounds - done)
        picks = rng.integers(0, n_clusters, size=(block, n_clusters))
        flat = (picks + (np.arange(block) * n_clusters)[:, None]).ravel()
        # As floats, so the products with per-cluster sums that follow run in BLAS.
        yield np.bincount(flat, minlength=block * n_clusters).reshape(block, n_clusters).astype(np.float64)
        done += block


def shares(
    cluster: np.ndarray,
    hits: dict[str, np.ndarray],
    eligible: np.ndarray | None = None,
    *,
    rng: np.random.Generator | None = None,
    rounds: int = 1000,
) -> dict[str, Figure]:
    """For each named `hits` array (0/1 or a score in [0, 1]), its mean over the `eligible` items, with
    bounds from one shared bootstrap over `cluster` (the same resampled battles for every name).

    `n` is the number of eligible items. With `rounds=0` or a single cluster there is no interval.
    """
    cluster = np.asarray(cluster)
    keep = np.ones(len(cluster), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    n = int(keep.sum())
    if n == 0:
        return {name: Figure(None, 0) for name in hits}
    _, index = np.unique(cluster[keep], return_inverse=True)
    den = np.bincount(index).astype(float)
    nums = np.stack(
        [
            np.bincount(index, weights=np.asarray(h, dtype=float)[keep], minlength=len(den))
            for h in hits.values()
        ],
        axis=1,
    )
    values = nums.sum(axis=0) / den.sum()
    if rounds <= 0 or len(den) < 2:
        return {name: Figure(float(v), n) for name, v in zip(hits, values, strict=True)}
    rng = rng if rng is not None else np.random.default_rng(0)
    samples = []
    for counts in _resample_counts(len(den), rounds, rng):
        total = counts @ den
        ratio = np.divide(
            counts @ nums,
            total[:, None],
            out=np.full((len(total), nums.shape[1]), np.nan),
            where=total[:, None] > 0,
        )
        samples.append(ratio)
    low, high = np.nanpercentile(np.concatenate(samples), _tail(), axis=0)
    return {name: Figure(float(values[k]), n, float(low[k]), float(high[k])) for k, name in enumerate(hits)}


def share(
    cluster: np.ndarray,
    hit: np.ndarray,
    eligible: np.ndarray | None = None,
    *,
    rng: np.random.Generator | None = None,
    rounds: int = 1000,
) -> Figure:
    """Mean of `hit` (0/1 or a score in [0, 1]) over the `eligible` items, bootstrapped over `cluster`."""
    return shares(cluster, {"share": hit}, eligible, rng=rng, rounds=rounds)["share"]


def _statistic_bootstrap(
    statistic: Callable[[np.ndarray], float | None],
    n_items: int,
    *,
    rng: np.random.Generator | None,
    rounds: int,
) -> tuple[float | None, float | None]:
    """Percentile bounds of `statistic(indices)` over `rounds` resamples of `n_items` items (each its own
    cluster). Rounds where the statistic is undefined are left out; no bounds if none is defined."""
    if rounds <= 0 or n_items < 2:
        return None, None
    rng = rng if rng is not None else np.random.default_rng(0)
    values = []
    for _ in range(rounds):
        value = statistic(rng.integers(0, n_items, size=n_items))
        if value is not None and np.isfinite(value):
            values.append(value)
    if not values:
        return None, None
    low, high = np.percentile(values, _tail())
    return float(low), float(high)


# --- position -----------------------------------------------------------------------------------------


def position_classes(shown: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Per unit, the index in `POSITION_CLASSES` of how its two orders relate.

    `shown[i]` is the position label given with the battle's answer A shown first, `swapped[i]` with B
    first. Consistent: the same side both times (first then second, second then first) or a tie twice;
    biased_first / biased_second: the same *position* both times; error: either order unparsed; other:
    the rest (one tie, one decisive).
    """
    shown = np.asarray(shown)
    swapped = np.asarray(swapped)
    out = np.full(len(shown), 3)  # other
    same_side = ((shown == FIRST) & (swapped == SECOND)) | ((shown == SECOND) & (swapped == FIRST))
    out[same_side | ((shown == TIE) & (swapped == TIE))] = 0
    out[(shown == FIRST) & (swapped == FIRST)] = 1
    out[(shown == SECOND) & (swapped == SECOND)] = 2
    out[(shown == ERROR) | (swapped == ERROR)] = 4
    return out


def position_figures(
    shown: np.ndarray, swapped: np.ndarray, *, rng: np.random.Generator | None = None, rounds: int = 1000
) -> dict[str, Figure]:
    """Shares of units in each position class (they sum to 1); each unit is one battle, so one cluster."""
    classes = position_classes(shown, swapped)
    hits = {name: classes == k for k, name in enumerate(POSITION_CLASSES)}
    return shares(np.arange(len(classes)), hits, rng=rng, rounds=rounds)


def prefer_first(
    cluster: np.ndarray, choice: np.ndarray, *, rng: np.random.Generator | None = None, rounds: int = 1000
) -> Figure:
    """Over single judgments with a decisive verdict, the share choosing the answer shown first."""
    choice = np.asarray(choice)
    return share(cluster, choice == FIRST, (choice == FIRST) | (choice == SECOND), rng=rng, rounds=rounds)


def prefer_more(
    cluster: np.ndarray,
    choice: np.ndarray,
    x_first: np.ndarray,
    x_second: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    rounds: int = 1000,
) -> Figure:
    """Over decisive choices between answers whose feature differs (length, list items, ...), the share
    choosing the answer with more of it. `choice` is FIRST/SECOND (or A/B: the same codes) and the
    features are those of the answer in that place."""
    choice = np.asarray(choice)
    x_first = np.asarray(x_first, dtype=float)
    x_second = np.asarray(x_second, dtype=float)
    decisive = (choice == FIRST) | (choice == SECOND)
    eligible = decisive & (x_first != x_second)
    chose_more = ((choice == FIRST) & (x_first > x_second)) | ((choice == SECOND) & (x_second > x_first))
    return share(cluster, chose_more, eligible, rng=rng, rounds=rounds)


# --- agreement ----------------------------------------------------------------------------------------


def strict_majority(counts: np.ndarray) -> np.ndarray:
    """Per unit (row of label counts A, B, DRAW), the label with a strict majority, or -1 without one."""
    counts = np.asarray(counts)
    if counts.size == 0:
        return np.zeros(0, dtype=int)
    top = counts.argmax(axis=1)
    best = counts.max(axis=1)
    runner = np.sort(counts, axis=1)[:, -2]
    return np.where((best > 0) & (best > runner), top, -1)


def agreement(
    cluster: np.ndarray,
    judge: np.ndarray,
    people: np.ndarray,
    *,
    ties: bool = True,
    rng: np.random.Generator | None = None,
    rounds: int = 1000,
) -> Figure:
    """Share of items where the two side labels are equal. Without ties, only items where both are
    decisive (A or B) count."""
    judge = np.asarray(judge)
    people = np.asarray(people)
    eligible = (judge >= 0) & (people >= 0)
    if not ties:
        eligible &= (judge != DRAW) & (people != DRAW)
    return share(cluster, judge == people, eligible, rng=rng, rounds=rounds)


def cohen_kappa(x: np.ndarray, y: np.ndarray, n_labels: int = 3) -> float | None:
    """Cohen's κ of two raters' labels (ints in 0..n_labels-1): (p_o − p_e) / (1 − p_e).

    None when undefined: no items, or both raters always gave one and the same label (p_e = 1).
    """
    x = np.asarray(x, dtype=int)
    y = np.asarray(y, dtype=int)
    if len(x) == 0:
        return None
    table = np.bincount(x * n_labels + y, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
    total = table.sum()
    observed = np.trace(table) / total
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / total**2
    if expected >= 1.0:
        return None
    return float((observed - expected) / (1.0 - expected))


def kappa_figure(
    judge: np.ndarray, people: np.ndarray, *, rng: np.random.Generator | None = None, rounds: int = 1000
) -> Figure:
    """Cohen's κ between judge and people's-majority labels on the items where both exist (one item per
    battle, so items are the bootstrap clusters)."""
    judge = np.asarray(judge)
    people = np.asarray(people)
    keep = (judge >= 0) & (people >= 0)
    x, y = judge[keep], people[keep]
    value = cohen_kappa(x, y)
    low, high = _statistic_bootstrap(lambda i: cohen_kappa(x[i], y[i]), len(x), rng=rng, rounds=rounds)
    return Figure(value, len(x), low, high)


def krippendorff_alpha_nominal(value_counts: np.ndarray) -> float | None:
    """Krippendorff's α (nominal) from a units × labels matrix of how many annotators gave each label.

    Missing data is allowed: a unit may have any number of annotators; units with fewer than two are not
    pairable and do not count. None when undefined (fewer than two pairable values, or a single label used).
    """
    counts = np.asarray(value_counts, dtype=float)
    if counts.ndim != 2 or counts.size == 0:
        return None
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.sum() < 2 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None
    return float(krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal"))


def alpha_figure(
    value_counts: np.ndarray, *, rng: np.random.Generator | None = None, rounds: int = 1000
) -> Figure:
    """Krippendorff's α over units with at least two annotators; `n` counts those units."""
    counts = np.asarray(value_counts, dtype=float).reshape(-1, 3) if len(value_counts) else np.zeros((0, 3))
    counts = counts[counts.sum(axis=1) >= 2]
    value = krippendorff_alpha_nominal(counts)
    low, high = _statistic_bootstrap(
        lambda i: krippendorff_alpha_nominal(counts[i]), len(counts), rng=rng, rounds=rounds
    )
    return Figure(value, len(counts), low, high)


def people_pair_agreement(
    value_counts: np.ndarray, *, ties: bool = True, rng: np.random.Generator | None = None, rounds: int = 1000
) -> Figure:
    """The human ceiling: over all pairs of different annotators' votes on the same unit, the share that
    agree. Without ties, only votes for A or B form pairs. `n` is the number of pairs."""
    counts = np.asarray(value_counts, dtype=float).reshape(-1, 3) if len(value_counts) else np.zeros((0, 3))
    if not ties:
        counts = counts[:, :2]
    per_unit = counts.sum(axis=1)
    pairs = per_unit * (per_unit - 1) / 2
    agreeing = (counts * (counts - 1) / 2).sum(axis=1)
    keep = pairs > 0
    if not keep.any():
        return Figure(None, 0)
    pairs, agreeing = pairs[keep], agreeing[keep]
    value = float(agreeing.sum() / pairs.sum())
    low, high = None, None
    if rounds > 0 and len(pairs) >= 2:
        rng = rng if rng is not None else np.random.default_rng(0)
        samples = np.concatenate(
            [(c @ agreeing) / (c @ pairs) for c in _resample_counts(len(pairs), rounds, rng)]
        )
        low, high = (float(v) for v in np.percentile(samples, _tail()))
    return Figure(value, int(pairs.sum()), low, high)


# --- leaderboards -------------------------------------------------------------------------------------


def _separated(rating: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """sign matrix: +1 where i is confidently above j (i's lower bound above j's upper), −1 below, 0 not."""
    above = low[:, None] > high[None, :]
    return above.astype(int) - above.T.astype(int)


def board_agreement(
    judge: tuple[np.ndarray, np.ndarray, np.ndarray], people: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> dict[str, Figure]:
    """Kendall τ-b and Spearman ρ between two leaderboards over the same contenders (aligned arrays of
    rating, lower and upper bound), and `confident_same`: the share of contender pairs that both boards
    separate (non-overlapping intervals) in the same order, out of all pairs. `n` is contenders for τ and
    ρ, pairs for the share. Missing bounds (NaN) count as the rating itself."""
    r1, l1, h1 = (np.asarray(v, dtype=float) for v in judge)
    r2, l2, h2 = (np.asarray(v, dtype=float) for v in people)
    n = len(r1)
    if n < 2:
        none = Figure(None, n)
        return {"kendall_tau_b": none, "spearman_rho": none, "confident_same": Figure(None, 0)}
    tau = stats.kendalltau(r1, r2, variant="b").statistic
    rho = stats.spearmanr(r1, r2).statistic
    l1, h1 = np.where(np.isnan(l1), r1, l1), np.where(np.isnan(h1), r1, h1)
    l2, h2 = np.where(np.isnan(l2), r2, l2), np.where(np.isnan(h2), r2, h2)
    s1, s2 = _separated(r1, l1, h1), _separated(r2, l2, h2)
    upper = np.triu_indices(n, k=1)
    same = (s1[upper] != 0) & (s1[upper] == s2[upper])
    n_pairs = len(same)

    def _finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return {
        "kendall_tau_b": Figure(_finite(tau), n),
        "spearman_rho": Figure(_finite(rho), n),
        "confident_same": Figure(float(same.mean()), n_pairs),
    }


# --- spend --------------------------------------------------------------------------------------------


def spend_figures(parsed: np.ndarray, cost: np.ndarray, latency_ms: np.ndarray) -> dict[str, Figure]:
    """Per 1,000 finished judgments: parse failures, cost (US dollars) and latency (seconds of call time);
    plus the mean latency in milliseconds. `parsed` is False for unparsed or failed judgments; latency may
    be NaN where unknown (it is then left out of the latency figures)."""
    parsed = np.asarray(parsed, dtype=bool)
    cost = np.asarray(cost, dtype=float)
    latency = np.asarray(latency_ms, dtype=float)
    n = len(parsed)
    if n == 0:
        empty = Figure(None, 0)
        return {
            k: empty
            for k in ("parse_failures_per_1000", "cost_per_1000", "latency_s_per_1000", "latency_ms_mean")
        }
    timed = latency[~np.isnan(latency)]
    mean_ms = float(timed.mean()) if len(timed) else None
    return {
        "parse_failures_per_1000": Figure(1000.0 * float((~parsed).sum()) / n, n),
        "cost_per_1000": Figure(1000.0 * float(cost.sum()) / n, n),
        # mean ms per judgment × 1,000 judgments ÷ 1,000 ms per second: numerically the mean in ms.
        "latency_s_per_1000": Figure(mean_ms, len(timed)),
        "latency_ms_mean": Figure(mean_ms, len(timed)),
    }
