"""Connectivity diagnostics: when can Bradley–Terry ratings be trusted, and what is wrong if not.

Two conditions matter (Zermelo, Ford):
- the *comparison graph* (an edge wherever two contenders fought) must be connected, or ratings of
  different components have no common scale;
- within a component, the *win graph* (i → j when i scored anything against j) must be strongly connected,
  or the maximum-likelihood estimate is infinite — the simplest case being a contender that never lost
  (or never won; a tie counts as half a win each way, so it rescues both sides).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .counts import PairCounts


@dataclass(frozen=True)
class Diagnostics:
    """What a fit found about its data. Reported with every result, never silently repaired.

    ``components``: contenders grouped by the connected components of the comparison graph, largest first
    (a single group when connected). ``never_won`` / ``never_lost``: contenders with no win mass (no win,
    no tie) or no loss mass. ``mle_exists``: every component's win graph is strongly connected.
    ``regularisation_alpha``: the choix ``alpha`` used for the point fit, ``None`` for a pure MLE.
    ``bootstrap_regularised_rounds``: bootstrap rounds whose resample needed that alpha.
    """

    components: list[list[str]]
    never_won: list[str]
    never_lost: list[str]
    mle_exists: bool
    regularisation_alpha: float | None = None
    bootstrap_regularised_rounds: int = 0

    @property
    def connected(self) -> bool:
        return len(self.components) <= 1

    def with_regularisation(self, alpha: float | None, bootstrap_rounds: int) -> Diagnostics:
        return replace(self, regularisation_alpha=alpha, bootstrap_regularised_rounds=bootstrap_rounds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"connected": self.connected}

    def notes(self) -> list[str]:
        """Human-readable sentences for anything unusual; empty when the data are well posed."""
        notes = []
        if not self.connected:
            groups = " | ".join(", ".join(c) for c in self.components)
            notes.append(f"comparison graph has {len(self.components)} components (not comparable): {groups}")
        if self.never_lost:
            notes.append(f"never lost: {', '.join(self.never_lost)}")
        if self.never_won:
            notes.append(f"never won: {', '.join(self.never_won)}")
        if self.regularisation_alpha is not None:
            notes.append(f"no finite MLE; fitted with regulariser alpha={self.regularisation_alpha:g}")
        if self.bootstrap_regularised_rounds:
            notes.append(f"{self.bootstrap_regularised_rounds} bootstrap rounds needed the regulariser")
        return notes


def diagnose(counts: PairCounts) -> Diagnostics:
    """Connectivity and MLE existence for ``counts``, with contenders named."""
    wins = counts.comparison_matrix
    components = [[counts.models[i] for i in members] for members in component_members(counts.battles)]
    scored, conceded = wins.sum(axis=1), wins.sum(axis=0)
    return Diagnostics(
        components=components,
        never_won=[m for m, s in zip(counts.models, scored, strict=True) if s == 0],
        never_lost=[m for m, c in zip(counts.models, conceded, strict=True) if c == 0],
        mle_exists=mle_exists(wins),
    )


def component_members(battles: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the connected components of the comparison graph, largest first."""
    linked = battles > 0
    unassigned = np.ones(len(linked), dtype=bool)
    groups = []
    while unassigned.any():
        members = reachable_from(linked, int(np.argmax(unassigned)))
        groups.append(np.flatnonzero(members))
        unassigned &= ~members
    return sorted(groups, key=lambda members: (-len(members), members[0]))


def mle_exists(comparison_matrix: np.ndarray) -> bool:
    """True when the Bradley–Terry MLE is finite within every connected component.

    That holds exactly when, inside each component, every contender reaches every other along
    "scored against" edges: the win graph is strongly connected.
    """
    scored = comparison_matrix > 0
    np.fill_diagonal(scored, True)
    if scored.all():  # every pair scored both ways: the common case, decided without a graph search
        return True
    for members in component_members(scored | scored.T):
        inside = scored[np.ix_(members, members)]
        if not (reachable_from(inside, 0).all() and reachable_from(inside.T, 0).all()):
            return False
    return True


def reachable_from(adjacency: np.ndarray, start: int) -> np.ndarray:
    """Mask of the nodes reachable from ``start`` along edges ``adjacency[i, j]`` (i → j), start included.

    Breadth-first over boolean rows: O(n²) for n contenders, which keeps scipy.sparse out of the imports.
    """
    seen = np.zeros(len(adjacency), dtype=bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = adjacency[frontier].any(axis=0) & ~seen
        seen |= frontier
    return seen


def strongly_connected_stack(adjacency: np.ndarray) -> np.ndarray:
    """Per matrix of a stack (rounds × m × m) of directed graphs ``adjacency[r, i, j]`` (i → j): whether every
    node reaches every other, i.e. node 0 reaches all and all reach node 0.

    For a comparison matrix ``W`` this is exactly "plainly fittable" (connected with a finite MLE): a strongly
    connected win graph ``W > 0`` is connected, and inside one component a finite MLE is the strong
    connectivity :func:`mle_exists` checks. One breadth-first search per direction for the whole stack: each
    step is a batched product of the frontiers with the adjacency matrices.
    """
    linked = np.asarray(adjacency, dtype=bool)
    rounds, m = linked.shape[0], linked.shape[1]
    if m <= 1:
        return np.ones(rounds, dtype=bool)
    edges = linked.astype(np.float32)
    return _reach_all_from_first(edges) & _reach_all_from_first(edges.transpose(0, 2, 1))


def _reach_all_from_first(edges: np.ndarray) -> np.ndarray:
    rounds, m = edges.shape[0], edges.shape[1]
    seen = np.zeros((rounds, m), dtype=bool)
    seen[:, 0] = True
    frontier = seen.copy()
    while frontier.any():
        reached = np.matmul(frontier[:, np.newaxis, :].astype(np.float32), edges)[:, 0, :] > 0
        frontier = reached & ~seen
        seen |= frontier
    return np.asarray(seen.all(axis=1))
