"""Bootstrap resampling, vectorised so that hundreds of rounds stay cheap.

Batch fits resample *aggregated cells* — (i, j, win) and (i, j, tie) — with one multinomial draw per round
over all cells, which is the same as resampling battles with replacement but costs contenders², not votes.
Online Elo depends on order, so it resamples battle indices and keeps them in their original order.
Bradley–Terry takes its resamples as stacks (rounds × n × n) so that all rounds are fitted together.

A multinomial draw costs one binomial per cell. When the cells hold whole battles and there are few battles
per cell (small boards: a category, a dimension), picking the battles themselves with replacement and counting
them per cell gives the same distribution for a fraction of the cost; :func:`_cell_draws` chooses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .counts import PairCounts

# Rounds drawn per multinomial call: bounds memory at (chunk × cells) integers however many rounds are asked.
_ROUNDS_PER_DRAW = 64
# Matrix entries per stack: 2M floats (16 MB) per array, a few arrays live at once in a batched fit.
_ENTRIES_PER_STACK = 2_000_000
# Below this many battles per cell a round is drawn as battle picks; either way is exact. Measured on 100
# contenders, 200 rounds (CPU ms, picks vs multinomial): 3.2 battles per cell 112 vs 187, 5.6: 170 vs 256,
# 10.8: 315 vs 356, 21.6: 678 vs 428; the crossing near 12 is left with a margin.
_PICKS_PER_CELL_BELOW = 8.0


@dataclass(frozen=True)
class _Cells:
    """Non-empty outcome cells of a :class:`PairCounts`, flattened for ``np.bincount``."""

    win_targets: np.ndarray  # flat index i·n + j credited with one win per resampled battle
    tie_targets: np.ndarray  # flat index i·n + j (i < j) credited with half a win each way
    mass: np.ndarray  # battles (or soft mass) per cell: wins first, then ties
    n_models: int

    def comparison_matrices(self, cell_counts: np.ndarray) -> np.ndarray:
        """One matrix per row of ``cell_counts`` (rounds × cells): the stacked :meth:`comparison_matrix`."""
        n, rounds = self.n_models, len(cell_counts)
        n_wins = len(self.win_targets)
        # Each target appears once per kind (the cells are distinct), so plain assignment places them.
        wins = np.zeros((rounds, n * n))
        wins[:, self.win_targets] = cell_counts[:, :n_wins]
        flat_ties = np.zeros((rounds, n * n))
        flat_ties[:, self.tie_targets] = cell_counts[:, n_wins:]
        ties = flat_ties.reshape(rounds, n, n)
        return wins.reshape(rounds, n, n) + 0.5 * (ties + ties.transpose(0, 2, 1))

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
    for draws in _cell_draws(cells, rounds, rng):
        for cell_counts in draws:
            yield cells.comparison_matrix(cell_counts)


def resampled_comparison_stacks(
    counts: PairCounts, rounds: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """The matrices of :func:`resampled_comparison_matrices` (the same draws for the same ``rng`` state), in
    order, as stacks of shape (k, n, n), k bounded so that a stack stays near 16 MB."""
    cells = _cells_of(counts)
    per_stack = max(1, _ENTRIES_PER_STACK // (counts.n_models**2))
    for draws in _cell_draws(cells, rounds, rng):
        for first in range(0, len(draws), per_stack):
            yield cells.comparison_matrices(draws[first : first + per_stack])


def _cell_draws(cells: _Cells, rounds: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield the rounds' battle counts per cell (a block of at most ``_ROUNDS_PER_DRAW`` rounds × cells at a
    time): each round redistributes the observed number of battles over the cells in proportion to their mass.

    With whole battles in every cell, a round is also the battles picked with replacement and counted per
    cell — the same distribution (the multinomial is defined by it) drawn at a cost per battle rather than per
    cell, which is cheaper while cells hold few battles each. The choice depends only on the data, so the same
    seed still gives the same rounds.
    """
    total = max(1, int(round(cells.mass.sum())))
    whole = bool(np.all(cells.mass == np.round(cells.mass)))
    by_picks = whole and total < _PICKS_PER_CELL_BELOW * len(cells.mass)
    if by_picks:
        cell_of_battle = np.repeat(np.arange(len(cells.mass)), cells.mass.astype(np.int64))
    else:
        probabilities = cells.mass / cells.mass.sum()
    for start in range(0, rounds, _ROUNDS_PER_DRAW):
        size = min(_ROUNDS_PER_DRAW, rounds - start)
        if by_picks:
            # One draw and one count for the whole block (a round per row): row r's picks land in cells
            # r·cells …, so the counts reshape into rounds × cells.
            # Picks are held at most _ENTRIES_PER_STACK at a time, as the stacks are.
            n_cells = len(cells.mass)
            rows = max(1, _ENTRIES_PER_STACK // total)
            block = np.empty((size, n_cells), dtype=np.int64)
            for first in range(0, size, rows):
                part = min(rows, size - first)
                picked = cell_of_battle[rng.integers(0, total, (part, total))]
                picked += n_cells * np.arange(part)[:, np.newaxis]
                block[first : first + part] = np.bincount(picked.ravel(), minlength=part * n_cells).reshape(
                    part, n_cells
                )
            yield block
        else:
            yield rng.multinomial(total, probabilities, size=size)


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
