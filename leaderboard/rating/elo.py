"""Online Elo in time order: a secondary view that, unlike Bradley–Terry, depends on battle order."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .bootstrap import resampled_battle_indices
from .counts import pair_counts_from_sequence
from .errors import RatingError
from .graph import diagnose
from .result import RatingResult, rating_result
from .scale import Anchor
from .sequence import BattleSequence


@dataclass(frozen=True)
class EloSettings:
    """K-factor, logistic scale and base, and the rating every contender starts from."""

    k: float = 4.0
    scale: float = 400.0
    base: float = 10.0
    initial: float = 1000.0


DEFAULT_ELO_SETTINGS = EloSettings()


def online_elo(sequence: BattleSequence, settings: EloSettings = DEFAULT_ELO_SETTINGS) -> np.ndarray:
    """Final ratings after replaying ``sequence`` in order, aligned with ``sequence.models``.

    Each battle moves A by ``k·(score − expected)`` and B by the opposite amount, with
    ``expected = 1 / (1 + base^((r_B − r_A) / scale))``; a tie scores 0.5.
    """
    # Plain Python floats in a tight loop beat per-battle numpy calls by an order of magnitude.
    ratings = [settings.initial] * len(sequence.models)
    k, scale, base = settings.k, settings.scale, settings.base
    for i, j, score in zip(sequence.a.tolist(), sequence.b.tolist(), sequence.score.tolist(), strict=True):
        rating_i, rating_j = ratings[i], ratings[j]
        change = k * (score - 1.0 / (1.0 + base ** ((rating_j - rating_i) / scale)))
        ratings[i] = rating_i + change
        ratings[j] = rating_j - change
    return np.array(ratings)


def fit_elo(
    sequence: BattleSequence,
    *,
    settings: EloSettings = DEFAULT_ELO_SETTINGS,
    anchor: Anchor | None = None,
    bootstrap_rounds: int = 0,
    seed: int | None = None,
) -> RatingResult:
    """Online Elo as a :class:`RatingResult`.

    Ratings are left as replayed (their mean stays at ``initial`` because updates are zero-sum) unless an
    ``anchor`` is given. Intervals resample battles with replacement, kept in original order; each round
    replays the whole sequence, so cost grows as rounds × battles.
    Diagnostics are reported, but Elo is defined however sparse the data, so nothing is refused.
    """
    if bootstrap_rounds < 0:
        raise RatingError(f"bootstrap_rounds must be 0 or more, not {bootstrap_rounds}")
    counts = pair_counts_from_sequence(sequence)
    ratings = _anchored(online_elo(sequence, settings), sequence.models, anchor)
    samples = _bootstrap(sequence, settings, anchor, bootstrap_rounds, seed)
    params = asdict(settings) | {
        "anchor": None if anchor is None else anchor.describe(),
        "bootstrap_rounds": bootstrap_rounds,
        "seed": seed,
    }
    return rating_result(
        models=sequence.models,
        ratings=ratings,
        samples=samples,
        n=counts.battles_per_model,
        method="elo",
        params=params,
        diagnostics=diagnose(counts),
    )


def _anchored(ratings: np.ndarray, models: tuple[str, ...], anchor: Anchor | None) -> np.ndarray:
    return ratings if anchor is None else anchor.apply(ratings, models)


def _bootstrap(
    sequence: BattleSequence, settings: EloSettings, anchor: Anchor | None, rounds: int, seed: int | None
) -> np.ndarray | None:
    if rounds == 0:
        return None
    rng = np.random.default_rng(seed)
    indices = resampled_battle_indices(len(sequence), rounds, rng)
    return np.array(
        [_anchored(online_elo(sequence.take(i), settings), sequence.models, anchor) for i in indices]
    )
