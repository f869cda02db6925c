"""One leaderboard's counts → ratings, intervals, matrices and style control. No database access.

A fit that cannot be trusted is not raised but returned as a failed :class:`BoardFit` whose message says
why (too few verdicts, a disconnected comparison graph, a numerical failure), so one bad leaderboard never
stops a recompute.
Ratings that needed the core's fallback regulariser are stored with the diagnostics' notes as the message.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from leaderboard.rating import (
    STYLE_FEATURES,
    BattleSequence,
    PairCounts,
    RatingResult,
    StyleResult,
    average_win_rate,
    battle_count_matrix,
    fit_bradley_terry,
    fit_style_controlled,
    win_fraction_matrix,
)


@dataclass(frozen=True)
class FitSettings:
    """What every fit of a run uses; stored with the run and in each snapshot's `params`."""

    bootstrap_rounds: int = 100
    seed: int = 0
    min_verdicts: int = 10
    style_control: bool = True
    style_bootstrap_rounds: int = 0
    # Style-controlled ratings are shown only with this many battles per fitted parameter (contenders − 1,
    # plus one per style feature): the usual rule of thumb for a logistic regression. Below it, a few dozen
    # battles would have to separate strengths from four style effects, and the numbers mean little.
    style_battles_per_parameter: int = 10
    # Judge and jury boards calibrated by people: needed battles judged by both, and bootstrap rounds.
    calibration_min_labelled: int = 30
    calibration_bootstrap_rounds: int = 200

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StyleData:
    """Verdict groups sharing contenders and answer styles: indices into the board's models, A's mean score,
    the number of verdicts, both answers' style counts (groups × 4, order of STYLE_FEATURES) and the number
    of battles in each group."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    style_a: np.ndarray
    style_b: np.ndarray
    battles: np.ndarray


@dataclass(frozen=True)
class BoardData:
    """A leaderboard's input: contenders (by slug, aligned with `contender_ids`) and their pair counts."""

    contender_ids: tuple[int, ...]
    counts: PairCounts
    n_verdicts: int
    style: StyleData | None = None


@dataclass(frozen=True)
class BoardFit:
    """A fitted (status "ok") or failed leaderboard; matrices are present whenever there were counts."""

    status: str
    message: str
    result: RatingResult | None = None
    diagnostics: dict = field(default_factory=dict)
    average_win_rate: np.ndarray | None = None
    win_fraction: np.ndarray | None = None
    battle_count: np.ndarray | None = None
    style: StyleResult | None = None
    style_message: str = ""
    params: dict = field(default_factory=dict)
    duration_ms: int = 0


def board_fit(data: BoardData, settings: FitSettings) -> BoardFit:
    """Fit one leaderboard: Bradley–Terry with bootstrap intervals, matrices, average win rate, style."""
    started = time.perf_counter()
    fit = _ratings(data, settings)
    if fit.status == "ok" and settings.style_control:
        style, style_message = _style(data, settings)
        fit = replace(fit, style=style, style_message=style_message)
    return replace(fit, duration_ms=int(1000 * (time.perf_counter() - started)))


def _ratings(data: BoardData, settings: FitSettings) -> BoardFit:
    counts = data.counts
    matrices: dict[str, Any] = {
        "win_fraction": win_fraction_matrix(counts),
        "battle_count": battle_count_matrix(counts),
        "average_win_rate": average_win_rate(counts),
    }
    too_few = _too_few(data, settings)
    if too_few:
        return BoardFit("failed", too_few, **matrices)
    try:
        result = fit_bradley_terry(counts, bootstrap_rounds=settings.bootstrap_rounds, seed=settings.seed)
    except ValueError as error:  # RatingError, or numerical trouble the core did not foresee
        diagnostics = getattr(error, "diagnostics", None)
        details = diagnostics.to_dict() if diagnostics is not None else {}
        return BoardFit("failed", _sentence(str(error)), diagnostics=details, **matrices)
    notes = "; ".join(result.diagnostics.notes())
    return BoardFit(
        "ok",
        _sentence(notes) if notes else "",
        result=result,
        diagnostics=result.diagnostics.to_dict(),
        params=result.params,
        **matrices,
    )


def _too_few(data: BoardData, settings: FitSettings) -> str:
    n_models = data.counts.n_models
    if n_models < 2:
        return f"Too few contenders to rate: {n_models} has verdicts here; a leaderboard needs at least 2."
    if data.n_verdicts < settings.min_verdicts:
        return (
            f"Too few verdicts to rate: {data.n_verdicts} between {n_models} contenders so far; ratings "
            f"appear once there are {settings.min_verdicts}."
        )
    return ""


def _style(data: BoardData, settings: FitSettings) -> tuple[StyleResult | None, str]:
    style = data.style
    if style is None or len(style.a) == 0:
        return None, "No answer style counts for these verdicts."
    too_few = _too_few_battles_for_style(style, data.counts.n_models, settings)
    if too_few:
        return None, too_few
    sequence = BattleSequence(data.counts.models, style.a, style.b, style.score)
    try:
        result = fit_style_controlled(
            sequence,
            style.style_a,
            style.style_b,
            weights=style.weight,
            battles=style.battles,
            bootstrap_rounds=settings.style_bootstrap_rounds,
            seed=settings.seed,
        )
    except ValueError as error:  # RatingError (ill-posed data, no convergence) or numerical trouble
        return None, "Style control not fitted: " + _sentence(str(error))
    regularised = result.ratings.diagnostics.bootstrap_regularised_rounds
    note = f"Style control: {regularised} bootstrap rounds needed the fallback prior." if regularised else ""
    return result, note


def _too_few_battles_for_style(style: StyleData, n_models: int, settings: FitSettings) -> str:
    n_parameters = n_models - 1 + len(STYLE_FEATURES)
    needed = settings.style_battles_per_parameter * n_parameters
    n_battles = int(round(style.battles.sum()))
    if n_battles >= needed:
        return ""
    return (
        f"Style control not shown: it needs at least {needed} battles here "
        f"({settings.style_battles_per_parameter} per fitted parameter: {n_models - 1} for {n_models} "
        f"contenders, {len(STYLE_FEATURES)} for the style features), and this leaderboard has {n_battles}."
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
