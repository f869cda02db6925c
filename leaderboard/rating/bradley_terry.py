"""Bradley–Terry ratings with bootstrap intervals, fitted on aggregated counts.

Well-posed fits (connected, finite MLE) use Newton's method on the likelihood, all bootstrap rounds of a
component at once (``bt_newton``); the regularised ones use choix's I-LSR with ``alpha`` (below), one at a time.

Ties and both-bad verdicts count as half a win each way (``W = wins + 0.5·ties``). The point estimate is
the full-data maximum-likelihood fit; intervals come from multinomial resamples of the counts.

What happens with ill-posed data (always recorded in ``result.diagnostics``):
- disconnected comparison graph: :class:`DisconnectedGraphError` unless ``per_component=True``, in which
  case each component is fitted on its own and anchored on its own (the named anchor model pins its
  component, the others are centred on the anchor rating) — ratings across components are not comparable;
- no finite MLE inside a component (someone never lost or never won, or a group never lost to the rest):
  that component is fitted with choix's regulariser ``alpha = fallback_alpha`` (default 0.01: transition
  rates start at 0.01 instead of 0, roughly a hundredth of a virtual battle per pair), so the unbeaten get
  large finite ratings set by the regulariser, not by evidence. ``fallback_alpha=None`` raises
  :class:`NoMaximumLikelihoodError` instead. Well-posed components are never regularised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .blas import one_blas_thread
from .bootstrap import resampled_comparison_stacks
from .bt_newton import curvature_inverse, log_strengths_near, log_strengths_newton
from .counts import PairCounts
from .errors import DisconnectedGraphError, NoMaximumLikelihoodError, RatingError
from .graph import Diagnostics, component_members, diagnose, mle_exists, strongly_connected_stack
from .result import RatingResult, rating_result
from .scale import DEFAULT_ANCHOR, ELO_POINTS_PER_LOGIT, Anchor, logits_to_elo

FALLBACK_ALPHA = 0.01
# Fits stop when the largest Newton step (or, for choix, the mean absolute change) of the centred
# log-strengths drops below this; 1e-12 puts the fit within ~1e-10 Elo points of the exact MLE, far below
# anything displayed, and costs an iteration or two.
TOLERANCE = 1e-12
# Bootstrap rounds only feed percentiles of a spread measured in Elo points, so 1e-8 (~1e-6 points) is
# ample there.
BOOTSTRAP_TOLERANCE = 1e-8
MAX_ITERATIONS = 1000


@dataclass(frozen=True)
class _Centre:
    """One component of the full data, as its bootstrap resamples are fitted around it."""

    members: np.ndarray
    matrix: np.ndarray
    theta: np.ndarray
    # Whether the full data are plainly fittable; a resample keeping all of its non-zero cells then is too.
    plain: bool
    inverse: np.ndarray | None

    @classmethod
    def of(cls, counts: PairCounts, members: np.ndarray, theta: np.ndarray) -> _Centre:
        matrix = counts.comparison_matrix[np.ix_(members, members)]
        plain = plainly_fittable(matrix)
        inverse = curvature_inverse(matrix, theta[members]) if plain and len(members) > 1 else None
        return cls(members, matrix, theta[members], plain, inverse)


@dataclass(frozen=True)
class _Solver:
    fallback_alpha: float | None
    tol: float
    max_iter: int

    def _alpha_for(self, regularise: bool) -> float:
        if not regularise:
            return 0.0
        if self.fallback_alpha is None:
            # The full data were checked before fitting, so only a bootstrap resample gets here.
            raise RatingError(
                "a bootstrap resample has no finite Bradley–Terry MLE (a sparse pair dropped out) and "
                "fallback_alpha is None; allow the fallback regulariser or collect more battles"
            )
        return self.fallback_alpha

    def newton(self, comparison_matrices: np.ndarray, initial: np.ndarray | None) -> np.ndarray:
        """Centred log-strengths of a stack of plainly fittable matrices (see :func:`plainly_fittable`)."""
        return log_strengths_newton(comparison_matrices, initial, tol=self.tol, max_iter=self.max_iter)

    def near(self, comparison_matrices: np.ndarray, centre: _Centre) -> np.ndarray:
        """As :meth:`newton`, for resamples of ``centre`` (a plainly fittable one of two or more models)."""
        assert centre.inverse is not None, "only a plainly fittable centre of two or more has an inverse"
        return log_strengths_near(
            comparison_matrices, centre.theta, centre.inverse, tol=self.tol, max_iter=self.max_iter
        )

    def log_strengths(
        self, comparison_matrix: np.ndarray, initial: np.ndarray | None
    ) -> tuple[np.ndarray, bool]:
        """Centred natural-log strengths of one connected component, and whether it was regularised."""
        if len(comparison_matrix) == 1:
            return np.zeros(1), False
        # A bootstrap resample can split a component (a sparse pair drops out); `mle_exists` judges each piece
        # on its own, but one unregularised fit over disconnected pieces has no unique solution.
        if plainly_fittable(comparison_matrix):
            return self.newton(comparison_matrix[np.newaxis], initial)[0], False
        alpha = self._alpha_for(True)
        # Imported here: choix pulls in scipy.stats, a slow import that every well-posed fit,
        # Elo, win rates and every web process importing this package would otherwise pay for nothing.
        import choix

        try:
            theta = choix.ilsr_pairwise_dense(
                comparison_matrix, alpha=alpha, initial_params=initial, tol=self.tol, max_iter=self.max_iter
            )
        except RuntimeError as error:
            raise RatingError(f"Bradley–Terry fit did not converge ({error}); try a looser tol") from error
        except ValueError as error:  # choix: no stationary distribution (a singular chain)
            raise RatingError(f"Bradley–Terry fit failed: {error}") from error
        return theta - theta.mean(), True


def plainly_fittable(comparison_matrix: np.ndarray) -> bool:
    """Connected with a finite MLE: fitted without a regulariser."""
    connected = len(component_members(comparison_matrix + comparison_matrix.T)) == 1
    return connected and mle_exists(comparison_matrix)


def fit_bradley_terry(
    counts: PairCounts,
    *,
    anchor: Anchor = DEFAULT_ANCHOR,
    bootstrap_rounds: int = 0,
    seed: int | None = None,
    per_component: bool = False,
    fallback_alpha: float | None = FALLBACK_ALPHA,
    tol: float = TOLERANCE,
    max_iter: int = MAX_ITERATIONS,
) -> RatingResult:
    """Bradley–Terry ratings on the Elo scale (``400/ln 10 · θ``, anchored by ``anchor``).

    ``bootstrap_rounds`` > 0 adds 95 % percentile intervals from a ``numpy`` Generator seeded with ``seed``.
    See the module docstring for disconnected graphs and infinite MLEs.
    """
    diagnostics = diagnose(counts)
    _refuse_unless_fittable(counts, diagnostics, anchor, bootstrap_rounds, per_component, fallback_alpha)
    solver = _Solver(fallback_alpha, tol, max_iter)
    groups = component_members(counts.battles)
    with one_blas_thread():  # see leaderboard.rating.blas
        theta, regularised = _log_strengths_by_component(counts.comparison_matrix, groups, solver, None)
        samples, regularised_rounds = _bootstrap(
            counts, groups, solver, theta, anchor, bootstrap_rounds, seed
        )
    alpha_used = fallback_alpha if regularised else None
    return rating_result(
        models=counts.models,
        ratings=_anchored(theta, groups, counts.models, anchor),
        samples=samples,
        n=counts.battles_per_model,
        method="bradley_terry",
        params=_params(anchor, bootstrap_rounds, seed, per_component, fallback_alpha, tol),
        diagnostics=diagnostics.with_regularisation(alpha_used, regularised_rounds),
    )


def _refuse_unless_fittable(
    counts: PairCounts,
    diagnostics: Diagnostics,
    anchor: Anchor,
    bootstrap_rounds: int,
    per_component: bool,
    fallback_alpha: float | None,
) -> None:
    if bootstrap_rounds < 0:
        raise RatingError(f"bootstrap_rounds must be 0 or more, not {bootstrap_rounds}")
    if anchor.model is not None:
        counts.index_of(anchor.model)
    if not diagnostics.connected and not per_component:
        raise DisconnectedGraphError(diagnostics)
    if not diagnostics.mle_exists and fallback_alpha is None:
        raise NoMaximumLikelihoodError(diagnostics)


def _log_strengths_by_component(
    comparison_matrix: np.ndarray, groups: list[np.ndarray], solver: _Solver, initial: np.ndarray | None
) -> tuple[np.ndarray, bool]:
    theta = np.zeros(len(comparison_matrix))
    any_regularised = False
    for members in groups:
        start = None if initial is None else initial[members]
        theta[members], regularised = solver.log_strengths(comparison_matrix[np.ix_(members, members)], start)
        any_regularised |= regularised
    return theta, any_regularised


def _anchored(
    theta: np.ndarray, groups: list[np.ndarray], models: tuple[str, ...], anchor: Anchor
) -> np.ndarray:
    ratings = np.empty(len(theta))
    for members in groups:
        names = [models[i] for i in members]
        ratings[members] = logits_to_elo(theta[members], names, anchor.for_component(names))
    return ratings


def _anchored_rows(
    theta: np.ndarray, groups: list[np.ndarray], models: tuple[str, ...], anchor: Anchor
) -> np.ndarray:
    """:func:`_anchored` applied to every row of ``theta`` (rounds × n) at once."""
    ratings = ELO_POINTS_PER_LOGIT * theta
    for members in groups:
        names = [models[i] for i in members]
        ratings[:, members] = anchor.for_component(names).apply_rows(ratings[:, members], names)
    return ratings


def _bootstrap(
    counts: PairCounts,
    groups: list[np.ndarray],
    solver: _Solver,
    theta: np.ndarray,
    anchor: Anchor,
    rounds: int,
    seed: int | None,
) -> tuple[np.ndarray | None, int]:
    """Ratings per bootstrap round (rounds × n), warm-started at the full-data fit, and how many rounds
    needed the regulariser because a sparse pair dropped out of the resample."""
    if rounds == 0:
        return None, 0
    theta_samples = np.empty((rounds, counts.n_models))
    regularised = np.zeros(rounds, dtype=bool)
    round_solver = replace(solver, tol=max(solver.tol, BOOTSTRAP_TOLERANCE))
    centres = [_Centre.of(counts, members, theta) for members in groups]
    done = 0
    for stack in resampled_comparison_stacks(counts, rounds, np.random.default_rng(seed)):
        batch = slice(done, done + len(stack))
        for centre in centres:
            inside = stack[:, centre.members[:, np.newaxis], centre.members]
            theta_samples[batch, centre.members], needed = _stack_log_strengths(inside, round_solver, centre)
            regularised[batch] |= needed
        done += len(stack)
    samples = _anchored_rows(theta_samples, groups, counts.models, anchor)
    return samples, int(regularised.sum())


def _stack_log_strengths(
    stack: np.ndarray, solver: _Solver, centre: _Centre
) -> tuple[np.ndarray, np.ndarray]:
    """One component's log-strengths for each resample in ``stack``, and which ones needed the regulariser.

    The plainly fittable resamples (with plenty of battles, all of them) are fitted together around the
    full-data fit; the rest one by one, as the full data would be.
    """
    m = stack.shape[1]
    if m == 1:
        return np.zeros((len(stack), 1)), np.zeros(len(stack), dtype=bool)
    # A resample has no cell the data lack; keeping all of theirs, it has the same graphs, so it is as
    # fittable as the data. Only resamples that lost a cell (sparse data) are judged one by one.
    kept_every_cell = ((stack > 0) | (centre.matrix == 0)).all(axis=(1, 2))
    plain = kept_every_cell & centre.plain
    lost = np.flatnonzero(~kept_every_cell)
    if len(lost):
        # All such resamples judged at once: for a comparison matrix, strongly connected win graph is exactly
        # plainly_fittable (see graph.strongly_connected_stack).
        plain[lost] = strongly_connected_stack(stack[lost] > 0)
    theta = np.empty((len(stack), m))
    if plain.any():
        theta[plain] = (
            solver.near(stack[plain], centre) if centre.plain else solver.newton(stack[plain], centre.theta)
        )
    needed = ~plain
    for r in np.flatnonzero(needed):
        theta[r], needed[r] = solver.log_strengths(stack[r], centre.theta)
    return theta, needed


def _params(
    anchor: Anchor,
    rounds: int,
    seed: int | None,
    per_component: bool,
    fallback_alpha: float | None,
    tol: float,
) -> dict[str, Any]:
    return {
        "anchor": anchor.describe(),
        "bootstrap_rounds": rounds,
        "seed": seed,
        "per_component": per_component,
        "fallback_alpha": fallback_alpha,
        "tol": tol,
        "bootstrap_tol": max(tol, BOOTSTRAP_TOLERANCE),
        "ties": "half a win each way",
        "scale": "400/ln(10) Elo points per logit",
    }
