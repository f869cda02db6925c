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
from scipy import sparse
from scipy.linalg import lapack

from .bootstrap import resampled_comparison_stacks
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
# A longer step (or a fraction of it) is taken once it lowers the objective by at least this share of what
# the gradient promises (Armijo's rule): merely "no higher" let nearly separated pairs on sparse boards
# swap places forever, each swap a sliver lower, so that Newton never converged.
_ARMIJO = 1e-4
# A bootstrap round whose Newton step was shorter than this (in logits) solves its later steps with the same
# Hessian, as long as each step is at most _CHORD_CONTRACTION times the one before (see ``_solve_stack``).
_KEEP_HESSIAN_BELOW = 1e-3
_CHORD_CONTRACTION = 0.5
# Strengths spread less than this (in logits) keep e^(θ − max θ) far above the smallest float (e^-745).
_EXPONENT_RANGE = 600.0


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
                if candidate_value <= value - _ARMIJO * size * (gradient @ step) + 1e-12 * max(
                    1.0, abs(value)
                ):
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
) -> np.ndarray | None:
    """Log-strengths per round (rounds × m), resampling the judge's battles and the labelled battles
    independently.

    The draws come in the order one round at a time would take them: a stack of the judge's resampled cells
    is drawn before the labelled picks of its rounds (one call of shape rounds × n draws what n-sized calls
    round by round would). The rounds of a stack are then solved together (:func:`_solve_stack`)."""
    if rounds == 0:
        return None
    n = len(labelled)
    fought = _Fought.of(judge_counts.comparison_matrix + judge_counts.comparison_matrix.T)
    samples = []
    for stack in resampled_comparison_stacks(judge_counts, rounds, rng):
        picked = rng.integers(0, n, size=(len(stack), n))
        targets = _rectified_stack(stack, labelled, picked)
        # A resample holds no pair the data lack: the data's fought pairs cover every round.
        battles = stack[:, fought.first, fought.second] + stack[:, fought.second, fought.first]
        samples.append(_solve_stack(fought, battles, targets, theta))
    return np.concatenate(samples)


def _rectified_stack(stack: np.ndarray, labelled: LabelledBattles, picked: np.ndarray) -> np.ndarray:
    """:func:`rectified_scores` of each round (its resampled comparison matrix, its picks of the labelled
    battles), rounds × m.

    A round's rectifier is the sum over its picks of the battle's error credited to A and debited from B:
    here how often it picked each battle (one count over all rounds' picks) times the ±errors of the battles
    people disagreed on (a sparse matrix, two entries per battle), rather than gathering every pick's error
    and contenders (the picks are rounds × labelled battles). The sums only differ in their order of addition,
    in their last bits."""
    rounds, m, _ = stack.shape
    n = picked.shape[1]
    times = np.bincount((picked + n * np.arange(rounds)[:, np.newaxis]).ravel(), minlength=rounds * n)
    error = np.asarray(labelled.human, dtype=float) - np.asarray(labelled.judge, dtype=float)
    disputed = np.flatnonzero(error)
    rows = np.arange(len(disputed))
    signed = sparse.csr_array(
        (
            np.concatenate([error[disputed], -error[disputed]]),
            (np.concatenate([rows, rows]), np.concatenate([labelled.a[disputed], labelled.b[disputed]])),
        ),
        shape=(len(disputed), m),
    )
    rectifier = times.reshape(rounds, n)[:, disputed].astype(float) @ signed
    n_judged = stack.sum(axis=(1, 2))
    return stack.sum(axis=2) + (n_judged / n)[:, np.newaxis] * rectifier


def _solve_stack(fought: _Fought, battles: np.ndarray, targets: np.ndarray, start: np.ndarray) -> np.ndarray:
    """:func:`_solve_for` of each round, all rounds at once: ``battles`` (rounds × fought pairs) are each
    round's battle counts on ``fought``'s pairs, ``targets`` (rounds × m) its rectified score totals.

    Newton's method with each round's own Hessian (one batched solve per iteration), from ``start`` (the
    data's fit, close to every round's): it converges quadratically, in a handful of iterations, where
    steps by the data's fixed curvature took twenty to thirty. As in :func:`_solve_for`, steps longer than
    ``_UNCHECKED_STEP`` are halved until the objective does not increase, and a round stops once its step
    is below ``_STEP_TOLERANCE``; the objective is strictly convex, so every round reaches the same optimum
    as the one-round solver, within that tolerance. Once a round's step is below ``_KEEP_HESSIAN_BELOW``
    its last Hessian's Cholesky factor serves its remaining steps (typically the last two: no Hessian built
    or factorised for them), for as long as they shrink by half or more each; since they do, what is left
    after the last step is below the tolerance too."""
    rounds, m = targets.shape
    theta = np.tile(start - start.mean(), (rounds, 1))
    # Only the Hessian's lower triangle is written: the Cholesky factorisation reads no other entry.
    lower = fought.second * m + fought.first
    diagonal = np.arange(m)
    active = np.arange(rounds)
    values = np.full(rounds, np.nan)  # the objective at theta, where a line search evaluated it
    # Each round's Cholesky factor of the Hessian it last evaluated: a view into the stack factorised with
    # it (no copy of the rounds × m × m factors into one array).
    factors: list[np.ndarray] = [np.empty(0)] * rounds
    fresh = np.ones(rounds, dtype=bool)  # whether its next step evaluates the Hessian again
    last = np.full(rounds, np.inf)  # the length of its last step
    on_pairs = _OnPairs(fought, m)
    followed = on_pairs.following(battles)  # each round's battles on the pairs each contender follows
    # The active rounds' battle counts, targets and followed totals, gathered again only when rounds finish.
    counts, aims = battles, targets
    for _ in range(_MAX_NEWTON_STEPS):
        current = theta[active]
        p = _pair_probabilities(current, fought)
        won = counts * p
        # Σ_j N_kj·P(k beats j): k's expected score, N·p on the pairs it leads and N − N·p on the others.
        gradient = followed + on_pairs.signed(won)
        gradient += RIDGE * current - aims
        renew = np.flatnonzero(fresh[active])
        if len(renew):
            # Every round renews in the first steps: then no gathering copy.
            every = len(renew) == len(active)
            weights = won * (1.0 - p) if every else won[renew] * (1.0 - p[renew])
            hessian = np.zeros((len(renew), m * m))
            hessian[:, lower] = -weights
            hessian = hessian.reshape(len(renew), m, m)
            hessian[:, diagonal, diagonal] = on_pairs.touching(weights) + RIDGE
            for r, factor in zip(active[renew], np.linalg.cholesky(hessian), strict=True):
                factors[r] = factor
        step = _cholesky_solves(factors, active, gradient)
        step, values[active] = _halved_until_no_worse(
            current, step, (gradient * step).sum(axis=1), values[active], fought, counts, aims
        )
        theta[active] = current - step
        length = np.abs(step).max(axis=1)
        # A round near its optimum keeps its Hessian (the chord method) while each step is at most half the
        # one before; a step by a Hessian evaluated at most _KEEP_HESSIAN_BELOW from the optimum shrinks
        # the error by a factor of about that distance, as Newton's own would, at no new Hessian.
        fresh[active] = np.where(
            fresh[active], length >= _KEEP_HESSIAN_BELOW, length > _CHORD_CONTRACTION * last[active]
        )
        last[active] = length
        going = length >= _STEP_TOLERANCE
        if not going.all():
            active = active[going]
            if not len(active):
                return theta - theta.mean(axis=1, keepdims=True)
            counts, aims, followed = counts[going], aims[going], followed[going]
    raise RatingError("the calibrated Bradley–Terry bootstrap did not converge")


def _cholesky_solves(factors: list[np.ndarray], active: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """H⁻¹·g of each active round, from its Cholesky factor ``L`` (lower, C order) in ``factors``.

    LAPACK's triangular solves are called round by round on the stored factor itself: ``L`` in C order is
    ``Lᵀ`` in Fortran order, the upper factor of the same Hessian, so nothing is copied (scipy's
    ``cho_solve`` on the stack first gathered the active rounds' factors and checked them for finiteness,
    then looped over them in Python all the same)."""
    step = np.empty_like(gradient)
    for row, r in enumerate(active):
        step[row], info = lapack.dpotrs(factors[r].T, gradient[row], lower=0)
        if info:
            raise RatingError(f"the calibrated Bradley–Terry bootstrap's Newton solve failed (LAPACK {info})")
    return step


def signed_incidence(first: np.ndarray, second: np.ndarray, m: int) -> sparse.csr_array:
    """The contenders × pairs matrix with +1 at (first[k], k) and −1 at (second[k], k): times a pairs × rounds
    array of per-pair terms, each contender's sum over the pairs it leads minus its sum over those it follows,
    in one sparse product."""
    pairs = np.arange(len(first))
    ones = np.ones(len(pairs))
    return sparse.csr_array(
        (np.concatenate([ones, -ones]), (np.concatenate([first, second]), np.concatenate([pairs, pairs]))),
        shape=(m, len(pairs)),
    )


class _OnPairs:
    """Sums of per-pair terms (rounds × fought pairs) onto each contender (rounds × m), all rounds in one
    sparse product with the contenders × pairs incidence matrix, with no rounds × m × m array."""

    def __init__(self, fought: _Fought, m: int) -> None:
        self.leads_minus_follows = signed_incidence(fought.first, fought.second, m)
        self.touches = abs(self.leads_minus_follows)
        self.follows = (self.touches - self.leads_minus_follows) / 2.0

    def signed(self, terms: np.ndarray) -> np.ndarray:
        """Each contender's sum of ``terms`` over the pairs it leads (i of i < j) minus over those it follows."""
        return (self.leads_minus_follows @ terms.T).T

    def touching(self, terms: np.ndarray) -> np.ndarray:
        """Each contender's sum of ``terms`` over the pairs it is in."""
        return (self.touches @ terms.T).T

    def following(self, terms: np.ndarray) -> np.ndarray:
        """Each contender's sum of ``terms`` over the pairs it follows (j of i < j)."""
        return (self.follows @ terms.T).T


def _halved_until_no_worse(
    theta: np.ndarray,
    step: np.ndarray,
    descent: np.ndarray,
    values: np.ndarray,
    fought: _Fought,
    battles: np.ndarray,
    targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each round's Newton step (to be subtracted), halved while it would raise the objective, for the
    rounds whose step is longer than ``_UNCHECKED_STEP`` (shorter ones are taken whole, see ``_solve_for``);
    and the objective after the step where it was evaluated (NaN elsewhere). ``values``: the objective at
    ``theta`` where known (NaN: evaluated here if needed)."""
    after = np.full(len(theta), np.nan)
    checked = np.flatnonzero(np.abs(step).max(axis=1) > _UNCHECKED_STEP)
    if not len(checked):
        return step, after
    value = values[checked]
    unknown = np.isnan(value)
    if unknown.any():
        rows = checked[unknown]
        value[unknown] = _objectives(theta[rows], fought, battles[rows], targets[rows])
    # As _solve_for: sizes 1, 1/2, ... while above 1e-6; the last one tried is taken even if no better.
    scale = np.ones(len(checked))
    pending = np.arange(len(checked))
    while len(pending):
        rows = checked[pending]
        candidate = _objectives(
            theta[rows] - scale[pending, np.newaxis] * step[rows], fought, battles[rows], targets[rows]
        )
        after[rows] = candidate
        enough = value[pending] - _ARMIJO * scale[pending] * descent[rows]
        worse = candidate > enough + 1e-12 * np.maximum(1.0, np.abs(value[pending]))
        pending = pending[worse & (scale[pending] / 2.0 > 1e-6)]
        scale[pending] /= 2.0
    step[checked] *= scale[:, np.newaxis]
    return step, after


def _objectives(theta: np.ndarray, fought: _Fought, battles: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """:func:`_objective` of each row of ``theta`` with its own battle counts and targets."""
    # Every round of a stack starts at the same strengths: their pair terms are then computed once (and
    # broadcast, so the sums are the same floats).
    distinct = theta[:1] if (theta == theta[:1]).all() else theta
    top = distinct.max(axis=1, keepdims=True)
    if np.max(top - distinct.min(axis=1, keepdims=True)) < _EXPONENT_RANGE:
        # log(e^θi + e^θj) = top + log(e^(θi − top) + e^(θj − top)): one exponential per contender and one
        # logarithm per pair, where np.logaddexp takes an exponential and a logarithm per pair.
        power = np.exp(distinct - top)
        pair_terms = np.log(power[:, fought.first] + power[:, fought.second]) + top
    else:
        pair_terms = np.logaddexp(distinct[:, fought.first], distinct[:, fought.second])
    return (
        (battles * pair_terms).sum(axis=1)
        - (targets * theta).sum(axis=1)
        + 0.5 * RIDGE * (theta * theta).sum(axis=1)
    )


def _pair_probabilities(theta: np.ndarray, fought: _Fought) -> np.ndarray:
    """P(i beats j) on each fought pair i < j of each row of ``theta``: e^θi / (e^θi + e^θj), one exponential
    per contender (shifted by the row's largest strength) rather than one per pair, where the strengths'
    spread keeps every exponential above the smallest float."""
    top = theta.max(axis=1, keepdims=True)
    if np.max(top - theta.min(axis=1, keepdims=True)) >= _EXPONENT_RANGE:
        return _logistic(theta[:, fought.first] - theta[:, fought.second])
    power = np.exp(theta - top)
    first = power[:, fought.first]
    return first / (first + power[:, fought.second])


def _logistic(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-x): half the cost of the tanh form; e^-x overflows to infinity (and p to 0) harmlessly.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))
