"""Bootstrap resampling, vectorised so that hundreds of rounds stay cheap.

Batch fits resample *aggregated cells* — (i, j, win) and (i, j, tie) — with one multinomial draw per round
over all cells, which is the same as resampling battles with replacement but costs contenders², not votes.
Online Elo depends on order, so it resamples battle indices and keeps them in their original order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .counts import PairCounts

# Rounds drawn per multinomial call: bounds memory at (chunk × cells) integers however many rounds are asked.
_ROUNDS_PER_DRAW = 64


@dataclass(frozen=True)
class _Cells:
    """Non-empty outcome cells of a :class:`PairCounts`, flattened for ``np.bincount``."""

    win_targets: np.ndarray  # flat index i·n + j credited with one win per resampled battle
    tie_targets: np.ndarray  # flat index i·n + j (i < j) credited with half a win each way
    mass: np.ndarray  # battles (or soft mass) per cell: wins first, then ties
    n_models: int

    def comparison_matrix(self, cell_counts: np.ndarray) -> np.ndarray:
        n = self.n_models
        n_wins = len(self.win_targets)
        wins = np.bincount(self.win_targets, weights=cell_counts[:n_wins], minlength=n * n)
        ties = np.bincount(self.tie_targets, weights=cell_counts[n_wins:], minlength=n * n).reshape(n, n)
        return wins.reshape(n, n) + 0.5 * (ties + ties.T)


def resampled_comparison_matrices(
    counts: PairCounts, rounds: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield ``rounds`` comparison matrices ``W`` from multinomial resamples of the cells of ``counts``.

    Each round redistributes the observed number of battles over the cells in proportion to their
    counts. Soft verdicts (fractional masses) are resampled as their win/tie split, a documented
    approximation that slightly overstates their variance.
    """
    cells = _cells_of(counts)
    total = max(1, int(round(cells.mass.sum())))
    probabilities = cells.mass / cells.mass.sum()
    for start in range(0, rounds, _ROUNDS_PER_DRAW):
        draws = rng.multinomial(total, probabilities, size=min(_ROUNDS_PER_DRAW, rounds - start))
        for cell_counts in draws:
            yield cells.comparison_matrix(cell_counts)


def resampled_battle_indices(n_battles: int, rounds: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield ``rounds`` with-replacement samples of battle indices, each sorted into the original order."""
    for _ in range(rounds):
        yield np.sort(rng.integers(0, n_battles, size=n_battles))


def _cells_of(counts: PairCounts) -> _Cells:
    n = counts.n_models
    win_flat = np.flatnonzero(counts.wins)
    upper_ties = np.triu(counts.ties, k=1)
    tie_flat = np.flatnonzero(upper_ties)
    mass = np.concatenate([counts.wins.ravel()[win_flat], upper_ties.ravel()[tie_flat]])
    return _Cells(win_flat, tie_flat, mass, n)
