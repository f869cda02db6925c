"""A judge's Bradley–Terry leaderboard corrected by people: prediction-powered inference (PPI).

An LLM judge gives many verdicts, people few; on the battles both judged, the difference between the
people's score and the judge's estimates the judge's error. PPI (Angelopoulos et al., *Science* 2023) fits
the model on every judge verdict and subtracts that error measured on the people-labelled slice:

    θ̂ = argmin_θ  (1/N) Σ_{judged} ℓ(θ; ŷ)  −  (1/n) Σ_{labelled} [ℓ(θ; ŷ) − ℓ(θ; y)]

with ℓ the Bradley–Terry log-loss, ŷ the judge's score for A and y the people's (the mean of their votes on
the battle). ℓ is linear in the label, so the objective is a Bradley–Terry likelihood whose score totals are
the judge's plus a *rectifier*: contender k's total score becomes

    T_k = judge score of k over all N judged battles + (N/n) · Σ_{labelled} (people's − judge's score of k)

and the pair totals stay the judge's battle counts. When people agree with the judge the rectifier is zero and
this is the judge's own leaderboard; when the judge favours a contender, the labelled slice shows it and the
rating moves back. The interval comes from a bootstrap over both samples (the judge's battles by multinomial
resampling of the aggregated cells, the labelled battles with replacement), so it widens with the judge's
disagreement with people and with how few labels there are.

Contract: the labelled battles must be a random sample of the judged ones (uniform over the judge's battles);
battles served to people for a reason tied to the judge's error (e.g. disputed first) make the slice
unrepresentative and the correction biased. The fit adds a small ridge penalty (``RIDGE``) so that a
rectifier pushing a contender beyond "always wins" still yields a finite rating. No Django import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .bootstrap import resampled_comparison_matrices
from .counts import PairCounts
from .errors import RatingError
from .intervals import percentile_interval
from .scale import DEFAULT_ANCHOR, ELO_POINTS_PER_LOGIT, Anchor, logits_to_elo

# Ridge penalty on the log-strengths, in units of battles: 0.01 is about a hundredth of a virtual battle
# per contender, as the regulariser of the plain fit, invisible unless the data give no finite optimum.
RIDGE = 0.01
_MAX_NEWTON_STEPS = 100
_STEP_TOLERANCE = 1e-10
# Newton steps no longer than this (in logits) are taken whole, without a line search (see ``_solve``).
_UNCHECKED_STEP = 1e-3
# Bootstrap rounds solved together: bounds memory at this many contenders² matrices.
_ROUNDS_PER_SOLVE = 64


@dataclass(frozen=True)
class LabelledBattles:
    """Battles judged by both the judge and people, as parallel arrays.

    ``a``/``b`` index the models of the judge's :class:`PairCounts`; ``human`` is the people's mean score
    for A on the battle (1 A better, 0 B better, 0.5 a draw, votes averaged), ``judge`` the judge's.
    """

    a: np.ndarray
    b: np.ndarray
    human: np.ndarray
    judge: np.ndarray

    def __post_init__(self) -> None:
        lengths = {len(self.a), len(self.b), len(self.human), len(self.judge)}
        if len(lengths) != 1:
            raise RatingError(f"labelled battle arrays differ in length: {sorted(lengths)}")
        for name in ("human", "judge"):
            values = np.asarray(getattr(self, name), dtype=float)
            if len(values) and not np.all((values >= 0.0) & (values <= 1.0)):
                raise RatingError(f"labelled battles: every {name} score must be in [0, 1]")

    def __len__(self) -> int:
        return len(self.a)


@dataclass(frozen=True)
class CalibratedResult:
    """Calibrated ratings on the Elo scale aligned with ``models``, 95 % bootstrap bounds (None without a
    bootstrap), ``shift``: calibrated minus the uncorrected PPI point (the correction people brought, in Elo
    points), ``n_labelled``/``n_judged``: the battles it rests on."""

    models: tuple[str, ...]
    ratings: np.ndarray
    ci_low: np.ndarray | None
    ci_high: np.ndarray | None
    shift: np.ndarray
    n_labelled: int
    n_judged: int
    params: dict[str, Any]


def fit_calibrated_bradley_terry(
    judge_counts: PairCounts,
    labelled: LabelledBattles,
    *,
    anchor: Anchor = DEFAULT_ANCHOR,
    bootstrap_rounds: int = 200,
    seed: int | None = None,
) -> CalibratedResult:
    """The judge's leaderboard corrected with the people-labelled slice (see the module docstring).

    Raises :class:`RatingError` when there are no labelled battles or one names a contender outside
    ``judge_counts``.
    """
    n_models = judge_counts.n_models
    _refuse_unless_fittable(labelled, n_models, bootstrap_rounds)
    comparison = judge_counts.comparison_matrix
    theta = _solve(comparison, labelled, np.zeros(n_models))
    plain = _solve(comparison, None, theta)
    samples = _bootstrap(judge_counts, labelled, theta, bootstrap_rounds, np.random.default_rng(seed))
    models = judge_counts.models
    ratings = logits_to_elo(theta, models, anchor)
    low = high = None
    if samples is not None:
        low, high = percentile_interval(anchor.apply_rows(ELO_POINTS_PER_LOGIT * np.array(samples), models))
    return CalibratedResult(
        models=models,
        ratings=ratings,
        ci_low=low,
        ci_high=high,
        shift=ratings - logits_to_elo(plain, models, anchor),
        n_labelled=len(labelled),
        n_judged=int(round(comparison.sum())),
        params={
            "method": "prediction-powered Bradley–Terry",
            "bootstrap_rounds": bootstrap_rounds,
            "seed": seed,
            "ridge": RIDGE,
            "anchor": anchor.describe(),
        },
    )


def _refuse_unless_fittable(labelled: LabelledBattles, n_models: int, rounds: int) -> None:
    if rounds < 0:
        raise RatingError(f"bootstrap_rounds must be 0 or more, not {rounds}")
    if len(labelled) == 0:
        raise RatingError("no battle was judged by both the judge and people: nothing to calibrate with")
    a, b = np.asarray(labelled.a), np.asarray(labelled.b)
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_models or np.any(a == b):
        raise RatingError(f"labelled battles must pair two different contenders among the {n_models} judged")


def rectified_scores(comparison: np.ndarray, labelled: LabelledBattles | None) -> np.ndarray:
    """T_k: each contender's judge score total plus the PPI rectifier (zero without labelled battles)."""
    totals = comparison.sum(axis=1)
    if labelled is None:
        return totals
    n_models = len(comparison)
    error = np.asarray(labelled.human, dtype=float) - np.asarray(labelled.judge, dtype=float)
    rectifier = np.bincount(labelled.a, weights=error, minlength=n_models) - np.bincount(
        labelled.b, weights=error, minlength=n_models
    )
    n_judged = comparison.sum()
    return totals + (n_judged / len(labelled)) * rectifier


def _solve(comparison: np.ndarray, labelled: LabelledBattles | None, start: np.ndarray) -> np.ndarray:
    """Centred log-strengths minimising Σ_{i<j} N_ij·log(e^θi + e^θj) − T·θ + RIDGE/2·|θ|², by Newton's
    method with step halving (the objective is strictly convex, so this converges from any start)."""
    return _solve_for(comparison + comparison.T, rectified_scores(comparison, labelled), start)


def _solve_for(pairs: np.ndarray, target: np.ndarray, start: np.ndarray) -> np.ndarray:
    """:func:`_solve` given the pair battle counts (symmetric) and the rectified score totals."""
    fought = _Fought.of(pairs)
    theta = start - start.mean()
    value: float | None = None  # the objective at theta, evaluated only when a line search needs it
    for _ in range(_MAX_NEWTON_STEPS):
        # p[i, j] = P(i beats j), as a tanh so that far-apart strengths do not overflow an exponential
        p = 0.5 * (1.0 + np.tanh(0.5 * (theta[:, None] - theta[None, :])))
        gradient = (pairs * p).sum(axis=1) - target + RIDGE * theta
        weights = pairs * p * p.T
        hessian = np.diag(weights.sum(axis=1) + RIDGE) - weights
        step = _newton_step(hessian, gradient)
        size = 1.0
        if np.max(np.abs(step)) <= _UNCHECKED_STEP:
            # Short steps (a bootstrap round warm-started at the data's fit, the last steps of any fit) are
            # inside the region where Newton's full step on this strictly convex objective is safe, the rule
            # paired_logistic follows too; there a line search would only weigh rounding noise.
            theta, value = theta - step, None
        else:
            if value is None:
                value = _objective(theta, fought, target)
            while size > 1e-6:
                candidate = theta - size * step
                candidate_value = _objective(candidate, fought, target)
                if candidate_value <= value + 1e-12 * max(1.0, abs(value)):
                    break
                size /= 2.0
            theta, value = candidate, candidate_value
        if np.max(np.abs(size * step)) < _STEP_TOLERANCE:
            break
    else:
        raise RatingError("the calibrated Bradley–Terry fit did not converge")
    return theta - theta.mean()


def _newton_step(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """H⁻¹·g by conjugate gradients with a diagonal preconditioner, falling back to LAPACK.

    Matrix–vector products only: a multithreaded BLAS solving hundreds of tiny systems (one per bootstrap
    round and Newton step) spends more time waking its threads than solving, 30× more on a busy machine.
    H is symmetric positive definite (a weighted graph Laplacian plus the ridge), so CG applies."""
    inverse_diagonal = 1.0 / np.diag(hessian)
    x = np.zeros_like(gradient)
    residual = gradient.copy()
    z = inverse_diagonal * residual
    direction = z.copy()
    rz = residual @ z
    threshold = (1e-12 * np.linalg.norm(gradient)) ** 2
    for _ in range(2 * len(gradient)):
        if residual @ residual <= threshold:
            return x
        hd = hessian @ direction
        alpha = rz / (direction @ hd)
        x += alpha * direction
        residual -= alpha * hd
        z = inverse_diagonal * residual
        rz, previous = residual @ z, rz
        direction = z + (rz / previous) * direction
    return x if residual @ residual <= threshold else np.linalg.solve(hessian, gradient)


@dataclass(frozen=True)
class _Fought:
    """The pairs i < j with battles, and how many: the objective's pair terms are symmetric and vanish
    elsewhere, so summing over these alone gives the same value at a fraction of the cost."""

    first: np.ndarray
    second: np.ndarray
    battles: np.ndarray

    @classmethod
    def of(cls, pairs: np.ndarray) -> _Fought:
        first, second = np.nonzero(np.triu(pairs, k=1))
        return cls(first, second, pairs[first, second])


def _objective(theta: np.ndarray, fought: _Fought, target: np.ndarray) -> float:
    pair_terms = np.logaddexp(theta[fought.first], theta[fought.second])
    return float(fought.battles @ pair_terms) - float(target @ theta) + 0.5 * RIDGE * float(theta @ theta)


def _bootstrap(
    judge_counts: PairCounts,
    labelled: LabelledBattles,
    theta: np.ndarray,
    rounds: int,
    rng: np.random.Generator,
) -> list[np.ndarray] | None:
    """Log-strengths per round, resampling the judge's battles and the labelled battles independently.

    The draws come in the order one round at a time would take them (judge's cells, then labelled battles);
    the rounds are then solved together, :data:`_ROUNDS_PER_SOLVE` at a time (see :func:`_solve_near`)."""
    if rounds == 0:
        return None
    n = len(labelled)
    comparison = judge_counts.comparison_matrix
    centre = _Centre(comparison + comparison.T, theta)
    samples: list[np.ndarray] = []
    pairs, targets = [], []
    for resampled_comparison in resampled_comparison_matrices(judge_counts, rounds, rng):
        picked = rng.integers(0, n, size=n)
        resampled = LabelledBattles(
            labelled.a[picked], labelled.b[picked], labelled.human[picked], labelled.judge[picked]
        )
        pairs.append(resampled_comparison + resampled_comparison.T)
        targets.append(rectified_scores(resampled_comparison, resampled))
        if len(pairs) == _ROUNDS_PER_SOLVE:
            samples.extend(_solve_near(np.array(pairs), np.array(targets), centre))
            pairs, targets = [], []
    if pairs:
        samples.extend(_solve_near(np.array(pairs), np.array(targets), centre))
    return samples


class _Centre:
    """The full data's fit, and the inverse of its Hessian: what each bootstrap round starts from and steps by."""

    def __init__(self, pairs: np.ndarray, theta: np.ndarray) -> None:
        self.theta = theta - theta.mean()
        p = 0.5 * (1.0 + np.tanh(0.5 * (self.theta[:, None] - self.theta[None, :])))
        weights = pairs * p * p.T
        self.inverse = np.linalg.inv(np.diag(weights.sum(axis=1) + RIDGE) - weights)


def _solve_near(pairs: np.ndarray, targets: np.ndarray, centre: _Centre) -> np.ndarray:
    """:func:`_solve_for` of each round (pairs: rounds × m × m, targets: rounds × m), all rounds at once.

    Every round starts at the full data's fit and steps by the full data's inverse Hessian times its own
    gradient: one array operation for all rounds per step. A resample is close to the data, so the steps
    shrink geometrically (by about the relative change of the counts); a round whose steps stop shrinking
    fast is finished by Newton's method on its own. A round stops, as in ``_solve``, once no parameter moves
    by more than ``_STEP_TOLERANCE``; with steps at least halving, the remaining error is below that step.
    """
    rounds = len(pairs)
    theta = np.tile(centre.theta, (rounds, 1))
    active = np.arange(rounds)
    previous = np.full(rounds, np.inf)
    for _ in range(_MAX_NEWTON_STEPS):
        current = theta[active]
        p = 0.5 * (1.0 + np.tanh(0.5 * (current[:, :, None] - current[:, None, :])))
        gradient = (pairs[active] * p).sum(axis=2) - targets[active] + RIDGE * current
        step = gradient @ centre.inverse  # the inverse is symmetric
        theta[active] = current - step
        size = np.abs(step).max(axis=1)
        converged = size < _STEP_TOLERANCE
        stalled = (size > 0.5 * previous[active]) & ~converged
        for r in active[stalled]:
            theta[r] = _solve_for(pairs[r], targets[r], theta[r])
        previous[active] = size
        active = active[~(converged | stalled)]
        if not len(active):
            return theta - theta.mean(axis=1, keepdims=True)
    raise RatingError("the calibrated Bradley–Terry bootstrap did not converge")
