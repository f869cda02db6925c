"""Style control: Bradley–Terry with covariates for answer length and Markdown use (Chatbot Arena's method).

The model is a logistic regression of A's score on ``[±1 contender indicators, style differences]``:
``P(A beats B) = logistic(θ_A − θ_B + γ · z)`` where each of the four style features is normalised as
``(a − b) / (a + b + 1)`` and then z-scored over the battles. The θ are the style-controlled strengths,
reported on the same Elo scale and anchor as plain Bradley–Terry; γ says how much each style difference
(per standard deviation) moves the odds. Ties and soft verdicts enter as fractional targets, which is the
same as counting a tie as half a win each way. The fit needs a finite MLE, so an ill-posed comparison
graph raises :class:`DisconnectedGraphError` or :class:`NoMaximumLikelihoodError`; nothing is regularised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .bootstrap import resampled_battle_weights
from .counts import _validated_weights, pair_counts_from_scores
from .errors import DisconnectedGraphError, NoMaximumLikelihoodError, RatingError
from .graph import diagnose
from .result import RatingResult, rating_result
from .scale import DEFAULT_ANCHOR, ELO_POINTS_PER_LOGIT, Anchor
from .sequence import BattleSequence

STYLE_FEATURES = ("length", "headers", "list_items", "bold")

# Code is not prose: a "# comment" or "**kwargs" inside a fenced block is not Markdown styling.
_FENCED_CODE = re.compile(r"```.*?```", re.DOTALL)
_HEADER = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+?\*\*|__[^_\n]+?__")


def answer_style(text: str) -> np.ndarray:
    """``[length in characters, headers, list items, bold spans]`` of one answer (order of STYLE_FEATURES)."""
    prose = _FENCED_CODE.sub("", text)
    counts = (
        len(text),
        len(_HEADER.findall(prose)),
        len(_LIST_ITEM.findall(prose)),
        len(_BOLD.findall(prose)),
    )
    return np.array(counts, dtype=float)


def style_covariates(style_a: np.ndarray, style_b: np.ndarray) -> np.ndarray:
    """Per-battle covariates (battles × features): ``(a − b)/(a + b + 1)``, then z-scored per column.

    A column with no variation (say, no answer ever used a header) stays all zero rather than dividing by 0.
    """
    style_a, style_b = np.asarray(style_a, dtype=float), np.asarray(style_b, dtype=float)
    normalised = (style_a - style_b) / (style_a + style_b + 1.0)
    spread = normalised.std(axis=0)
    centred = normalised - normalised.mean(axis=0)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


@dataclass(frozen=True)
class StyleResult:
    """Style-controlled ratings plus the fitted style coefficients (logits per standard deviation)."""

    ratings: RatingResult
    coefficients: dict[str, float]


@dataclass(frozen=True)
class _Design:
    a: np.ndarray
    b: np.ndarray
    covariates: np.ndarray
    target: np.ndarray
    n_models: int

    def loss_and_gradient(self, params: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean weighted logistic loss; dividing by the weight total keeps tolerances independent of size."""
        theta, gamma = params[: self.n_models], params[self.n_models :]
        logits = theta[self.a] - theta[self.b] + self.covariates @ gamma
        scale = weights / weights.sum()
        loss = float(scale @ (np.logaddexp(0.0, logits) - self.target * logits))
        residual = scale * (_logistic(logits) - self.target)
        grad_theta = np.bincount(self.a, residual, self.n_models) - np.bincount(
            self.b, residual, self.n_models
        )
        return loss, np.concatenate([grad_theta, self.covariates.T @ residual])

    def fit(self, weights: np.ndarray, start: np.ndarray) -> np.ndarray:
        from scipy.optimize import minimize  # imported here: over a second of start-up, only style needs it

        solution = minimize(
            self.loss_and_gradient,
            start,
            args=(weights,),
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000},
        )
        if not solution.success:
            raise RatingError(f"style-controlled fit did not converge: {solution.message}")
        theta = solution.x[: self.n_models]
        return np.concatenate([theta - theta.mean(), solution.x[self.n_models :]])


def fit_style_controlled(
    sequence: BattleSequence,
    style_a: np.ndarray,
    style_b: np.ndarray,
    *,
    anchor: Anchor = DEFAULT_ANCHOR,
    bootstrap_rounds: int = 0,
    seed: int | None = None,
    weights: np.ndarray | None = None,
) -> StyleResult:
    """Style-controlled Bradley–Terry ratings for ``sequence``.

    ``style_a`` / ``style_b`` are (battles × 4) raw style counts of each side's answer, columns in the order
    of ``STYLE_FEATURES`` (see :func:`answer_style`). Intervals resample battles with replacement.
    ``weights`` (default 1 each) lets one entry stand for several verdicts on the same battle: with ``score``
    their mean, the likelihood is the same as listing them one by one (style is a property of the battle).
    Resampling then draws battles, each carrying its weight.
    """
    base = np.ones(len(sequence)) if weights is None else _validated_weights(weights, len(sequence))
    counts = pair_counts_from_scores(sequence.models, sequence.a, sequence.b, sequence.score, base)
    diagnostics = diagnose(counts)
    if not diagnostics.connected:
        raise DisconnectedGraphError(diagnostics)
    if not diagnostics.mle_exists:
        raise NoMaximumLikelihoodError(diagnostics)
    design = _Design(
        sequence.a, sequence.b, style_covariates(style_a, style_b), sequence.score, len(sequence.models)
    )
    full = design.fit(base, np.zeros(design.n_models + len(STYLE_FEATURES)))
    samples = _bootstrap(design, base, full, anchor, sequence.models, bootstrap_rounds, seed)
    result = rating_result(
        models=sequence.models,
        ratings=_elo(full, design.n_models, sequence.models, anchor),
        samples=samples,
        n=counts.battles_per_model,
        method="bradley_terry_style",
        params={"anchor": anchor.describe(), "bootstrap_rounds": bootstrap_rounds, "seed": seed},
        diagnostics=diagnostics,
    )
    gamma = full[design.n_models :]
    return StyleResult(result, dict(zip(STYLE_FEATURES, map(float, gamma), strict=True)))


def _logistic(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow for large |x|, and no scipy.special import.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _elo(params: np.ndarray, n_models: int, models: tuple[str, ...], anchor: Anchor) -> np.ndarray:
    return anchor.apply(ELO_POINTS_PER_LOGIT * params[:n_models], models)


def _bootstrap(
    design: _Design,
    base: np.ndarray,
    full: np.ndarray,
    anchor: Anchor,
    models: tuple[str, ...],
    rounds: int,
    seed: int | None,
) -> np.ndarray | None:
    if rounds <= 0:
        return None
    draws = resampled_battle_weights(len(design.a), rounds, np.random.default_rng(seed))
    return np.array([_elo(design.fit(base * w, full), design.n_models, models, anchor) for w in draws])
