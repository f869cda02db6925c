"""Bradley–Terry maximum likelihood by Newton's method, for a whole stack of comparison matrices at once.

Why beside choix: a bootstrap fits a hundred resamples that differ little from the data. Here they are
fitted together: each iteration is a few array operations over the whole stack, and the Newton system is
solved with the full data's curvature, inverted once (:func:`log_strengths_near`), instead of one
factorisation per resample per iteration. And ``import choix`` pulls in scipy.stats, a slow import that a
file-only ``rate`` would pay on every run. choix stays for the regularised fits (no finite MLE): its ``alpha`` changes
the fixed point, which plain Newton on the likelihood does not reproduce.

Contract: each matrix ``W[r]`` (``W[r, i, j]`` = i's wins over j, ties counted half each way) is connected
with a finite maximum-likelihood estimate — every contender reaches every other along "scored against" edges
(the caller checks, see ``graph.mle_exists``). The result is each row's centred natural-log strengths.
"""

from __future__ import annotations

import numpy as np

from .errors import RatingError

# Strengths spread less than this (in logits) keep e^(θ − max θ) far above the smallest float (e^-745).
_EXPONENT_RANGE = 600.0

# Halvings of a Newton step before giving up on improving the likelihood; 2^-40 of a step is below rounding.
_MAX_HALVINGS = 40
# A resample whose fixed-curvature steps shrink by less than this factor per iteration is far from the data
# (a sparse pair changed a lot): it is handed to full Newton rather than left to crawl.
_MIN_CONTRACTION = 0.5


def log_strengths_newton(
    comparison_matrices: np.ndarray, initial: np.ndarray | None, *, tol: float, max_iter: int
) -> np.ndarray:
    """Centred log-strengths, shape (rounds, m), maximising each matrix's Bradley–Terry likelihood.

    ``comparison_matrices``: shape (rounds, m, m). ``initial``: a start for every round, shape (m,) or
    (rounds, m) (zeros when ``None``). Stops for each round once its largest Newton step is below ``tol``
    logits; :class:`RatingError` after ``max_iter`` iterations without that.
    """
    wins = np.asarray(comparison_matrices, dtype=float)
    rounds, m, _ = wins.shape
    theta = np.zeros((rounds, m))
    if initial is not None:
        theta[:] = initial
    theta -= theta.mean(axis=1, keepdims=True)
    if m == 1:
        return theta
    battles = wins + wins.transpose(0, 2, 1)
    scored = wins.sum(axis=2)
    active = np.arange(rounds)
    likelihood = _log_likelihood(wins, theta)
    for _ in range(max_iter):
        step = _newton_step(battles[active], scored[active], theta[active])
        theta[active], likelihood[active], step = _improving(
            wins[active], theta[active], step, likelihood[active]
        )
        converged = np.abs(step).max(axis=1) < tol
        active = active[~converged]
        if not len(active):
            return theta - theta.mean(axis=1, keepdims=True)
    raise RatingError(
        f"Bradley–Terry fit did not converge in {max_iter} Newton iterations (tol {tol:g}); try a looser tol"
    )


def curvature_inverse(centre: np.ndarray, centre_theta: np.ndarray) -> np.ndarray:
    """The inverse of the negative Hessian (made invertible, see :func:`_laplacian`) of the likelihood of
    comparison matrix ``centre`` at log-strengths ``centre_theta``: what :func:`log_strengths_near` needs."""
    battles = (centre + centre.T)[np.newaxis]
    return np.linalg.inv(_laplacian(battles, centre_theta[np.newaxis])[1][0])


def log_strengths_near(
    comparison_matrices: np.ndarray,
    centre_theta: np.ndarray,
    inverse: np.ndarray,
    *,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """As :func:`log_strengths_newton`, for matrices close to a centre (bootstrap resamples of the data),
    whose log-strengths are ``centre_theta`` and whose :func:`curvature_inverse` is ``inverse``.

    Every round starts at ``centre_theta`` and steps by the centre's inverse curvature times its own
    gradient — one matrix product for the whole stack per iteration. The steps shrink geometrically, by
    about the relative change of the battle counts; a round where they do not is finished by full Newton.
    """
    wins = np.asarray(comparison_matrices, dtype=float)
    rounds, m, _ = wins.shape
    theta = np.tile(centre_theta - centre_theta.mean(), (rounds, 1))
    if m == 1:
        return theta
    pairs = _Pairs(wins)
    active = np.arange(rounds)
    previous = np.full(rounds, np.inf)
    for _ in range(max_iter):
        step = pairs.gradient(theta[active]) @ inverse  # the inverse is symmetric
        theta[active] += step
        size = np.abs(step).max(axis=1)
        stalled = size > _MIN_CONTRACTION * previous[active]
        converged = size < tol
        if stalled.any():
            crawling = active[stalled & ~converged]
            theta[crawling] = log_strengths_newton(
                wins[crawling], theta[crawling], tol=tol, max_iter=max_iter
            )
        previous[active] = size
        going = ~(converged | stalled)
        active = active[going]
        pairs.keep(going)
        if not len(active):
            return theta - theta.mean(axis=1, keepdims=True)
    raise RatingError(
        f"Bradley–Terry bootstrap fit did not converge in {max_iter} iterations (tol {tol:g}); "
        "try a looser tol"
    )


class _Pairs:
    """The pairs (i < j) that fought in some matrix of a stack, as flat lists: the likelihood's gradient needs
    ``P(i beats j)`` only there, half the entries of the dense matrices (fewer for sparse data), the other
    half being ``1 − P``.

    Gradient of contender i: ``scored_i − Σ_j N_ij · P(i beats j)``. Per pair (i < j) with ``N`` battles and
    ``p = P(i beats j)``, i expects ``N·p`` wins and j ``N − N·p``: with ``F`` the matrix of ``N·p`` above the
    diagonal, the gradient is ``scored − lower − (row sums of F) + (column sums of F)``, ``lower_j`` being the
    battles j had with contenders i < j (a constant of the round).

    The pairs are kept pair-major (pairs × rounds), so that F's sums per contender are sums of consecutive rows
    (``np.add.reduceat``) rather than a dense m × m matrix per round filled and summed: the pairs come sorted by
    their first contender, and a fixed permutation sorts them by their second. (No scipy.sparse product here:
    `rate` with a bootstrap imports no scipy, see tests/test_startup_imports.py.)
    """

    def __init__(self, wins: np.ndarray) -> None:
        battles = wins + wins.transpose(0, 2, 1)
        self.first, self.second = np.nonzero(np.triu(battles.any(axis=0), k=1))  # row-major: sorted by first
        self.by_second = np.argsort(self.second, kind="stable")
        self.firsts, self.first_starts = np.unique(self.first, return_index=True)
        self.seconds, self.second_starts = np.unique(self.second[self.by_second], return_index=True)
        self.battles = np.ascontiguousarray(battles[:, self.first, self.second].T)  # pairs × rounds
        self.base = np.ascontiguousarray((wins.sum(axis=2) - np.triu(battles).sum(axis=1)).T)  # m × rounds

    def keep(self, rounds: np.ndarray) -> None:
        """Drop the rounds not selected by mask ``rounds`` (finished ones): later gradients are of the rest."""
        self.battles, self.base = self.battles[:, rounds], self.base[:, rounds]

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """Per remaining round, the gradient at ``theta`` (remaining rounds × m)."""
        flow = self.battles * _pair_probabilities(np.ascontiguousarray(theta.T), self.first, self.second)
        gradient = self.base.copy()
        if len(flow):
            gradient[self.firsts] -= np.add.reduceat(flow, self.first_starts, axis=0)
            gradient[self.seconds] += np.add.reduceat(flow[self.by_second], self.second_starts, axis=0)
        return gradient.T


def _pair_probabilities(theta: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``P(first beats second)`` per pair (rows) and round (columns), ``theta`` being contenders × rounds:
    e^θi / (e^θi + e^θj), one exponential per contender (shifted by the largest strength) rather than one per
    pair, where the strengths' spread keeps every exponential above the smallest float; else the logistic of
    the margin."""
    if not theta.size:
        return np.empty((len(first), theta.shape[1]))
    top = theta.max()
    if top - theta.min() >= _EXPONENT_RANGE:
        return _logistic(theta[first] - theta[second])
    power = np.exp(theta - top)
    leading = power[first]
    return leading / (leading + power[second])


def _margins(theta: np.ndarray) -> np.ndarray:
    """``theta[r, i] − theta[r, j]`` for every round r and pair (i, j)."""
    return theta[:, :, None] - theta[:, None, :]


def _laplacian(battles: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected wins ``battles · P(i beats j)`` and the negative Hessian of the log-likelihood, a weighted
    graph Laplacian made invertible by adding ``1/m`` to every entry.

    The Laplacian is singular along the all-ones direction (strengths have a free additive constant); the
    added term fixes that without changing a Newton step, since the gradient sums to zero.
    """
    m = theta.shape[1]
    p = _logistic(_margins(theta))
    expected = battles * p
    curvature = expected * (1.0 - p)
    laplacian = -curvature
    diagonal = np.arange(m)
    laplacian[:, diagonal, diagonal] += curvature.sum(axis=2)
    laplacian += 1.0 / m
    return expected, laplacian


def _newton_step(battles: np.ndarray, scored: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Solve ``L·step = gradient`` per round, L the negative Hessian (see :func:`_laplacian`)."""
    expected, laplacian = _laplacian(battles, theta)
    gradient = scored - expected.sum(axis=2)
    try:
        return np.linalg.solve(laplacian, gradient[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        raise RatingError(
            "Bradley–Terry Newton step failed: the comparison graph is disconnected or the MLE is infinite"
        ) from None


def _improving(
    wins: np.ndarray, theta: np.ndarray, step: np.ndarray, likelihood: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``theta + step`` per round, the step halved where the full one would lower the likelihood.

    The likelihood is concave, so near the optimum the full step always improves it; only a start far away
    (a point fit from zeros with lopsided results) can overshoot.
    """
    new_likelihood = _log_likelihood(wins, theta + step)
    # Equal up to rounding counts as no worse: at convergence the change is below floating-point resolution.
    slack = 1e-12 * (1.0 + np.abs(likelihood))
    worse = np.flatnonzero(new_likelihood < likelihood - slack)
    for _ in range(_MAX_HALVINGS):
        if not len(worse):
            break
        step[worse] *= 0.5
        new_likelihood[worse] = _log_likelihood(wins[worse], theta[worse] + step[worse])
        worse = worse[new_likelihood[worse] < likelihood[worse] - slack[worse]]
    return theta + step, new_likelihood, step


def _log_likelihood(wins: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Per round: sum over i, j of ``W[i, j] · log P(i beats j)``."""
    return -(wins * _softplus(-_margins(theta))).sum(axis=(1, 2))


def _softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)`` without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _logistic(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-x), no scipy.special import; half the cost of the tanh form. For x below about -709, e^-x
    # overflows to infinity and the result is 0, its correctly rounded value.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))
