"""Bradley–Terry ratings with bootstrap intervals, fitted on aggregated counts with choix's I-LSR.

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

import numpy as np

from .bootstrap import resampled_comparison_matrices
from .counts import PairCounts
from .errors import DisconnectedGraphError, NoMaximumLikelihoodError, RatingError
from .graph import Diagnostics, component_members, diagnose, mle_exists
from .result import RatingResult, rating_result
from .scale import DEFAULT_ANCHOR, Anchor, logits_to_elo

FALLBACK_ALPHA = 0.01
# choix stops when the mean absolute change of the centred log-strengths drops below this; 1e-12 puts the
# fit within ~1e-10 Elo points of the exact MLE, far below anything displayed, and costs a few iterations.
TOLERANCE = 1e-12
# Bootstrap rounds only feed percentiles of a spread measured in Elo points, so 1e-8 (~1e-6 points) is
# ample there and saves a third of the bootstrap time.
BOOTSTRAP_TOLERANCE = 1e-8
MAX_ITERATIONS = 1000


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

    def log_strengths(
        self, comparison_matrix: np.ndarray, initial: np.ndarray | None
    ) -> tuple[np.ndarray, bool]:
        """Centred natural-log strengths of one connected component, and whether it was regularised."""
        if len(comparison_matrix) == 1:
            return np.zeros(1), False
        # A bootstrap resample can split a component (a sparse pair drops out); `mle_exists` judges each piece
        # on its own, but one unregularised fit over disconnected pieces has no unique solution.
        connected = len(component_members(comparison_matrix + comparison_matrix.T)) == 1
        regularise = not (connected and mle_exists(comparison_matrix))
        alpha = self._alpha_for(regularise)
        # Imported here: choix pulls in scipy.stats, seconds of start-up that Elo, win rates and every web
        # process importing this package would otherwise pay for nothing.
        import choix

        try:
            theta = choix.ilsr_pairwise_dense(
                comparison_matrix, alpha=alpha, initial_params=initial, tol=self.tol, max_iter=self.max_iter
            )
        except RuntimeError as error:
            raise RatingError(f"Bradley–Terry fit did not converge ({error}); try a looser tol") from error
        except ValueError as error:  # choix: no stationary distribution (a singular chain)
            raise RatingError(f"Bradley–Terry fit failed: {error}") from error
        return theta - theta.mean(), regularise


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
    theta, regularised = _log_strengths_by_component(counts.comparison_matrix, groups, solver, None)
    samples, regularised_rounds = _bootstrap(counts, groups, solver, theta, anchor, bootstrap_rounds, seed)
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
    samples = np.empty((rounds, counts.n_models))
    regularised_rounds = 0
    round_solver = replace(solver, tol=max(solver.tol, BOOTSTRAP_TOLERANCE))
    matrices = resampled_comparison_matrices(counts, rounds, np.random.default_rng(seed))
    for round_index, matrix in enumerate(matrices):
        round_theta, regularised = _log_strengths_by_component(matrix, groups, round_solver, theta)
        samples[round_index] = _anchored(round_theta, groups, counts.models, anchor)
        regularised_rounds += regularised
    return samples, regularised_rounds


def _params(
    anchor: Anchor,
    rounds: int,
    seed: int | None,
    per_component: bool,
    fallback_alpha: float | None,
    tol: float,
) -> dict:
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
