"""Weighted logistic regression on paired comparisons with covariates, solved by Newton's method.

The model behind style control: ``P(A beats B) = logistic(θ_A − θ_B + γ · z)`` for rows (battles, or
battles merged because they look alike) with A's mean score as a fractional target and a weight (verdicts).
The objective is the weighted negative log-likelihood plus Gaussian priors: ``|γ|² / (2 σ²)`` on the
covariate coefficients, and on the θ only when asked (``theta_precision``, the fallback for a bootstrap
resample whose comparison graph lost its finite optimum), around their mean so that a common shift of the θ
stays free. Full-data fits never regularise the θ: an ill-posed comparison graph is the caller's to
diagnose and report.

Why Newton rather than a quasi-Newton method: parameters are few (contenders + covariates) and rows many,
so the exact Hessian costs about what one gradient does, and convergence takes 5–8 passes over the rows
instead of 30–40, to machine precision rather than to a gradient tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RatingError

MAX_NEWTON_STEPS = 100
# Steps at least this long (in logits) are damped by backtracking; shorter ones are inside the region where
# Newton's full step is safe, and there the objective's rounding noise would mislead a line search anyway.
_DAMPED_ABOVE = 1e-3
# Converged once a step moves no parameter by more than this many logits (1.7e-8 Elo points).
_STEP_TOLERANCE = 1e-10


@dataclass(frozen=True)
class PairedLogistic:
    """Rows of one fit. ``a`` / ``b`` index contenders, ``covariates`` is rows × k, ``target`` A's mean score.

    Precisions are ``1 / σ²`` of the priors, in units of one unit of weight (one verdict).
    """

    a: np.ndarray
    b: np.ndarray
    covariates: np.ndarray
    target: np.ndarray
    n_models: int
    prior_precision: float
    theta_precision: float = 0.0

    @property
    def n_params(self) -> int:
        return self.n_models + self.covariates.shape[1]

    def logits(self, params: np.ndarray) -> np.ndarray:
        theta, gamma = params[: self.n_models], params[self.n_models :]
        return theta[self.a] - theta[self.b] + self.covariates @ gamma

    def objective(self, params: np.ndarray, weights: np.ndarray) -> float:
        """Weighted negative log-likelihood plus the priors (natural logs, summed over rows)."""
        logits = self.logits(params)
        likelihood = weights @ (_softplus(logits) - self.target * logits)
        theta, gamma = params[: self.n_models], params[self.n_models :]
        spread = theta - theta.mean()
        return float(
            likelihood
            + 0.5 * self.prior_precision * gamma @ gamma
            + 0.5 * self.theta_precision * spread @ spread
        )

    def derivatives(self, params: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and exact Hessian, from one pass over the rows.

        Each row adds ``r · x`` to the gradient and ``c · x xᵀ`` to the Hessian, with ``x = e_A − e_B ⊕ z``,
        ``r`` the weighted residual and ``c`` the weighted curvature; both are folded per block.
        """
        p = _logistic(self.logits(params))
        residual = weights * (p - self.target)
        curvature = weights * p * (1.0 - p)
        theta, gamma = params[: self.n_models], params[self.n_models :]
        gradient = np.concatenate(
            [
                self._per_model(residual) + self.theta_precision * (theta - theta.mean()),
                self.covariates.T @ residual + self.prior_precision * gamma,
            ]
        )
        weighted = self.covariates * curvature[:, None]
        cross = np.column_stack([self._per_model(column) for column in weighted.T])
        gamma_block = self.covariates.T @ weighted + self.prior_precision * np.eye(len(gamma))
        hessian = np.block([[self._theta_block(curvature), cross], [cross.T, gamma_block]])
        return gradient, hessian

    def _theta_block(self, curvature: np.ndarray) -> np.ndarray:
        """The Bradley–Terry part: a graph Laplacian weighted by the curvature of each pair's rows."""
        n = self.n_models
        per_pair = np.bincount(self.a * n + self.b, curvature, n * n).reshape(n, n)
        symmetric = per_pair + per_pair.T
        laplacian = np.diag(symmetric.sum(axis=1)) - symmetric
        return laplacian + self.theta_precision * (np.eye(n) - 1.0 / n)

    def _per_model(self, values: np.ndarray) -> np.ndarray:
        """Σ over rows of ``values`` · (e_A − e_B): how a per-row quantity falls on each contender."""
        n = self.n_models
        return np.bincount(self.a, values, n) - np.bincount(self.b, values, n)

    def fit(self, weights: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """The minimiser, with θ centred on 0; RatingError if Newton does not settle.

        θ are identified only up to a common shift: the Hessian is singular along ``u = (1…1, 0…0)`` and the
        gradient orthogonal to it, so solving with ``H + u uᵀ`` gives the Newton step orthogonal to ``u``.
        """
        params = np.zeros(self.n_params) if start is None else np.array(start, dtype=float)
        shift = np.zeros(self.n_params)
        shift[: self.n_models] = 1.0
        current = None  # the objective at `params`, when a line search has computed it already
        for _ in range(MAX_NEWTON_STEPS):
            gradient, hessian = self.derivatives(params, weights)
            step = _newton_step(hessian + np.outer(shift, shift), gradient)
            if np.max(np.abs(step)) > _DAMPED_ABOVE:
                scale, current = self._backtrack(params, step, float(gradient @ step), weights, current)
                step = step * scale  # params + step is the point the search evaluated, bit for bit
            else:
                current = None
            params = params + step
            if np.max(np.abs(step)) <= _STEP_TOLERANCE:
                return _centred(params, self.n_models)
        raise RatingError(
            f"style-controlled fit did not converge in {MAX_NEWTON_STEPS} Newton steps; "
            "the comparison graph may have no finite optimum"
        )

    def _backtrack(
        self, params: np.ndarray, step: np.ndarray, slope: float, weights: np.ndarray, current: float | None
    ) -> tuple[float, float]:
        """Largest 2^-k whose step decreases the objective enough (Armijo), and the objective there;
        ``slope`` (< 0) is ∇f · step, ``current`` the objective at ``params`` if known (a pass over the rows
        saved: the previous search ended there)."""
        if current is None:
            current = self.objective(params, weights)
        scale = 1.0
        while scale > 1e-12:
            trial = self.objective(params + scale * step, weights)
            if trial <= current + 0.25 * scale * slope:
                return scale, trial
            scale *= 0.5
        # A long step along which nothing decreases: rounding has taken over far from the optimum. Stopping
        # here would report a point that is not the fit as if it had converged.
        raise RatingError(
            "style-controlled fit stalled: no decrease along the Newton step (numerically ill-conditioned data)"
        )


def _newton_step(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    try:
        return -np.linalg.solve(hessian, gradient)
    except np.linalg.LinAlgError:
        # Only when the curvature vanished: some θ ran off to infinity (no finite optimum).
        raise RatingError(
            "style-controlled fit failed: the likelihood is flat in some direction, so the data cannot "
            "tell some strengths apart"
        ) from None


def _centred(params: np.ndarray, n_models: int) -> np.ndarray:
    theta = params[:n_models]
    return np.concatenate([theta - theta.mean(), params[n_models:]])


def _softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)`` without overflow; twice as fast as ``np.logaddexp(0, x)``."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _logistic(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow for large |x|, and no scipy.special import.
    return 0.5 * (1.0 + np.tanh(0.5 * x))
