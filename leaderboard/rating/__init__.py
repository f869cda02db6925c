"""The rating core: pure functions over arrays (numpy, scipy, choix), no Django import anywhere.

Typical use: fold battles into :class:`PairCounts` (``pair_counts_from_scores``, or from SQL ``GROUP BY``
rows with ``weights``), then call ``fit_bradley_terry``; ``fit_elo`` replays a :class:`BattleSequence` in
time order and ``fit_elo_orderings`` averages it over random orderings; ``win_rate_against`` compares
everyone with a baseline; ``fit_style_controlled`` adds style covariates. Every fit returns a result whose
``to_rows()`` is ready for a table or JSON.
"""

from .bradley_terry import FALLBACK_ALPHA, fit_bradley_terry
from .counts import PairCounts, pair_counts_from_scores, pair_counts_from_sequence
from .elo import DEFAULT_ELO_SETTINGS, EloSettings, fit_elo, online_elo
from .elo_orderings import fit_elo_orderings, replay_orderings
from .errors import DisconnectedGraphError, NoMaximumLikelihoodError, RatingError
from .graph import Diagnostics, diagnose
from .result import RatingResult
from .scale import DEFAULT_ANCHOR, ELO_POINTS_PER_LOGIT, Anchor
from .sequence import BattleSequence
from .simulate import simulate_battles
from .style import STYLE_FEATURES, StyleResult, answer_style, fit_style_controlled, style_covariates
from .winrate import (
    WinRateResult,
    average_win_rate,
    battle_count_matrix,
    win_fraction_matrix,
    win_rate_against,
)

__all__ = [
    "DEFAULT_ANCHOR",
    "DEFAULT_ELO_SETTINGS",
    "ELO_POINTS_PER_LOGIT",
    "FALLBACK_ALPHA",
    "STYLE_FEATURES",
    "Anchor",
    "BattleSequence",
    "Diagnostics",
    "DisconnectedGraphError",
    "EloSettings",
    "NoMaximumLikelihoodError",
    "PairCounts",
    "RatingError",
    "RatingResult",
    "StyleResult",
    "WinRateResult",
    "answer_style",
    "average_win_rate",
    "battle_count_matrix",
    "diagnose",
    "fit_bradley_terry",
    "fit_elo",
    "fit_elo_orderings",
    "fit_style_controlled",
    "online_elo",
    "pair_counts_from_scores",
    "pair_counts_from_sequence",
    "replay_orderings",
    "simulate_battles",
    "style_covariates",
    "win_fraction_matrix",
    "win_rate_against",
]
