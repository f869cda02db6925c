"""Style control: Bradley–Terry with covariates for answer length and Markdown use (Chatbot Arena's method).

The model is a logistic regression of A's score on ``[±1 contender indicators, style differences]``:
``P(A beats B) = logistic(θ_A − θ_B + γ · z)`` where each of the four style features is normalised as
``(a − b) / (a + b + 1)`` and then z-scored over the battles. The θ are the style-controlled strengths,
reported on the same Elo scale and anchor as plain Bradley–Terry; γ says how much each style difference
(per standard deviation) moves the odds. Ties and soft verdicts enter as fractional targets, which is the
same as counting a tie as half a win each way.

The θ need a finite Bradley–Terry MLE, so an ill-posed comparison graph raises
:class:`DisconnectedGraphError` or :class:`NoMaximumLikelihoodError`; the θ are never regularised. The γ
carry a weak Gaussian prior, N(0, STYLE_PRIOR_SD²): without it a few dozen battles whose style features
move together (answers with headers nearly always bold something too) or that a style feature separates
perfectly have no unique or no finite optimum, and the fit wanders to absurd ratings. The prior weighs
about as much as four battles: at 3,000 battles it moves ratings by a few hundredths of an Elo point, less
as data grow (see tests/leaderboard/test_rating_style_fit.py). How much data a fit needs before its ratings
are worth showing is the caller's policy (``leaderboard.services.fitting``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from .bradley_terry import FALLBACK_ALPHA
from .counts import _validated_weights, pair_counts_from_scores
from .errors import DisconnectedGraphError, NoMaximumLikelihoodError
from .graph import diagnose
from .paired_logistic import PairedLogistic
from .result import RatingResult, rating_result
from .scale import DEFAULT_ANCHOR, ELO_POINTS_PER_LOGIT, Anchor
from .sequence import BattleSequence

STYLE_FEATURES = ("length", "headers", "list_items", "bold")
# Prior standard deviation of each style coefficient, in logits per standard deviation of the feature:
# an effect of e (2.7×) on the odds per SD is already far beyond measured ones (published arena analyses
# put the strongest, length, at a few tenths), so the prior only bites when the data cannot decide.
STYLE_PRIOR_SD = 1.0

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


def style_covariates(
    style_a: np.ndarray, style_b: np.ndarray, battles: np.ndarray | None = None
) -> np.ndarray:
    """Per-row covariates (rows × features): ``(a − b)/(a + b + 1)``, then z-scored per column.

    ``battles`` (default 1 each) is how many battles each row stands for when identical battles were merged:
    mean and spread are taken over battles, so merging never changes the covariates. A column with no
    variation (say, no answer ever used a header) stays all zero rather than dividing by 0.
    """
    style_a, style_b = np.asarray(style_a, dtype=float), np.asarray(style_b, dtype=float)
    normalised = (style_a - style_b) / (style_a + style_b + 1.0)
    share = np.ones(len(normalised)) if battles is None else np.asarray(battles, dtype=float)
    share = share / share.sum()
    centred = normalised - share @ normalised
    spread = np.sqrt(share @ centred**2)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


@dataclass(frozen=True)
class StyleResult:
    """Style-controlled ratings plus the fitted style coefficients (logits per standard deviation)."""

    ratings: RatingResult
    coefficients: dict[str, float]


def fit_style_controlled(
    sequence: BattleSequence,
    style_a: np.ndarray,
    style_b: np.ndarray,
    *,
    anchor: Anchor = DEFAULT_ANCHOR,
    bootstrap_rounds: int = 0,
    seed: int | None = None,
    weights: np.ndarray | None = None,
    battles: np.ndarray | None = None,
) -> StyleResult:
    """Style-controlled Bradley–Terry ratings for ``sequence``.

    ``style_a`` / ``style_b`` are (rows × 4) raw style counts of each side's answer, columns in the order
    of ``STYLE_FEATURES`` (see :func:`answer_style`). A row is one battle, or several battles with the same
    contenders and identical answer styles merged: ``battles`` says how many (default 1 each) and
    ``weights`` how many verdicts (default 1 each), ``score`` being A's mean. The likelihood is then the
    same as listing every verdict on its own (style is a property of the battle). Intervals resample
    battles with replacement, each carrying its verdicts.
    """
    rows = len(sequence)
    base = np.ones(rows) if weights is None else _validated_weights(weights, rows)
    per_row = np.ones(rows) if battles is None else _validated_weights(battles, rows)
    counts = pair_counts_from_scores(sequence.models, sequence.a, sequence.b, sequence.score, base)
    diagnostics = diagnose(counts)
    if not diagnostics.connected:
        raise DisconnectedGraphError(diagnostics)
    if not diagnostics.mle_exists:
        raise NoMaximumLikelihoodError(diagnostics)
    model = PairedLogistic(
        sequence.a,
        sequence.b,
        style_covariates(style_a, style_b, per_row),
        sequence.score,
        len(sequence.models),
        prior_precision=1.0 / STYLE_PRIOR_SD**2,
    )
    full = model.fit(base)
    samples, regularised_rounds = _bootstrap(
        model, base, per_row, full, anchor, sequence.models, bootstrap_rounds, seed
    )
    result = rating_result(
        models=sequence.models,
        ratings=_elo(full, model.n_models, sequence.models, anchor),
        samples=samples,
        n=counts.battles_per_model,
        method="bradley_terry_style",
        params={
            "anchor": anchor.describe(),
            "bootstrap_rounds": bootstrap_rounds,
            "seed": seed,
            "style_prior_sd": STYLE_PRIOR_SD,
            "bootstrap_fallback_precision": FALLBACK_ALPHA,
        },
        diagnostics=diagnostics.with_regularisation(None, regularised_rounds),
    )
    gamma = full[model.n_models :]
    return StyleResult(result, dict(zip(STYLE_FEATURES, map(float, gamma), strict=True)))


def _elo(params: np.ndarray, n_models: int, models: tuple[str, ...], anchor: Anchor) -> np.ndarray:
    return anchor.apply(ELO_POINTS_PER_LOGIT * params[:n_models], models)


def _bootstrap(
    model: PairedLogistic,
    verdicts: np.ndarray,
    battles: np.ndarray,
    full: np.ndarray,
    anchor: Anchor,
    models: tuple[str, ...],
    rounds: int,
    seed: int | None,
) -> tuple[np.ndarray | None, int]:
    """Refit on battles drawn with replacement (a merged row drawn k times carries k battles' verdicts);
    returns the ratings per round and how many rounds needed the fallback prior on θ, as Bradley–Terry's
    bootstrap does, because a sparse pair dropped out of the resample and left no finite optimum."""
    if rounds <= 0:
        return None, 0
    rng = np.random.default_rng(seed)
    total, share = int(round(battles.sum())), battles / battles.sum()
    verdicts_per_battle = np.divide(verdicts, battles, out=np.zeros_like(verdicts), where=battles > 0)
    fallback = replace(model, theta_precision=FALLBACK_ALPHA)
    samples, regularised = [], 0
    for _ in range(rounds):
        weights = rng.multinomial(total, share) * verdicts_per_battle
        resampled = diagnose(pair_counts_from_scores(models, model.a, model.b, model.target, weights))
        ill_posed = not (resampled.connected and resampled.mle_exists)
        regularised += ill_posed
        # Warm start from the full-data fit: a resample's optimum is close, so Newton needs few steps.
        params = (fallback if ill_posed else model).fit(weights, full)
        samples.append(_elo(params, model.n_models, models, anchor))
    return np.array(samples), regularised
