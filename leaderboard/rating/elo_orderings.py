"""Online Elo averaged over random orderings of the battles, replayed many at a time.

The QLoRA paper and Chatbot Arena's early notebooks report online Elo this way, because one replay depends
on the order the battles happen to be in. Every ordering is one row of an index matrix; all rows advance one
battle per step with array operations, so the Python loop runs once per battle, not once per battle and
ordering. Orderings are drawn in chunks that bound the index matrix (``_MAX_INDEX_ENTRIES``), so memory
stays flat however many orderings are asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np

from .counts import pair_counts_from_sequence
from .elo import DEFAULT_ELO_SETTINGS, EloSettings
from .errors import RatingError
from .graph import diagnose
from .intervals import percentile_interval, rank_upper_bound
from .result import RatingResult
from .scale import Anchor
from .sequence import BattleSequence

# Orderings × battles per chunk: 8 M int32 indices = 32 MB.
_MAX_INDEX_ENTRIES = 8_000_000


def replay_orderings(
    sequence: BattleSequence, indices: np.ndarray, settings: EloSettings = DEFAULT_ELO_SETTINGS
) -> np.ndarray:
    """Final online-Elo ratings (orderings × models) of replaying ``sequence`` once per column of ``indices``.

    ``indices`` is battles-per-replay × replays: column r lists the battles replay r plays, in order (a
    permutation, or a resample with repeats). The update is :func:`online_elo`'s, so a single column
    ``arange(len(sequence))`` gives exactly ``online_elo(sequence)``.
    """
    steps, replays = indices.shape
    n_models = len(sequence.models)
    ratings = np.full(replays * n_models, float(settings.initial))
    offsets = np.arange(replays) * n_models
    a, b, score = sequence.a, sequence.b, sequence.score
    k, log_base_over_scale = settings.k, math.log(settings.base) / settings.scale
    for battle in indices:  # one row: the t-th battle of every replay
        i = offsets + a[battle]
        j = offsets + b[battle]
        expected = 1.0 / (1.0 + np.exp((ratings[j] - ratings[i]) * log_base_over_scale))
        change = k * (score[battle] - expected)
        ratings[i] += change  # i (and j) hold distinct positions: one per replay
        ratings[j] -= change
    return ratings.reshape(replays, n_models)


def fit_elo_orderings(
    sequence: BattleSequence,
    *,
    permutations: int,
    settings: EloSettings = DEFAULT_ELO_SETTINGS,
    anchor: Anchor | None = None,
    bootstrap_rounds: int = 0,
    seed: int | None = None,
) -> RatingResult:
    """Online Elo averaged over ``permutations`` seeded random orderings.

    The interval is the 2.5/97.5 percentiles of the ratings across orderings, unless ``bootstrap_rounds``
    is given: then each round resamples the battles with replacement, in random order (as Chatbot Arena's
    notebook does), and the interval is the percentiles across rounds. With an ``anchor`` each replay is
    shifted before averaging. The same ``seed`` gives the same figures.
    """
    if permutations < 1:
        raise RatingError(f"permutations must be 1 or more, not {permutations}")
    if bootstrap_rounds < 0:
        raise RatingError(f"bootstrap_rounds must be 0 or more, not {bootstrap_rounds}")
    rng = np.random.default_rng(seed)
    ordered = _replays(sequence, settings, anchor, _permutation_chunks(len(sequence), permutations, rng))
    ratings = ordered.mean(axis=0)
    spread = ordered
    if bootstrap_rounds:
        spread = _replays(sequence, settings, anchor, _resample_chunks(len(sequence), bootstrap_rounds, rng))
    low, high = percentile_interval(spread)
    counts = pair_counts_from_sequence(sequence)
    params = asdict(settings) | {
        "anchor": None if anchor is None else anchor.describe(),
        "permutations": permutations,
        "bootstrap_rounds": bootstrap_rounds,
        "seed": seed,
        "interval": "bootstrap" if bootstrap_rounds else "orderings",
    }
    return RatingResult(
        models=sequence.models,
        ratings=ratings,
        ci_low=low,
        ci_high=high,
        rank_ub=rank_upper_bound(low, high),
        n=counts.battles_per_model,
        method="elo",
        params=params,
        diagnostics=diagnose(counts),
    )


def _replays(
    sequence: BattleSequence, settings: EloSettings, anchor: Anchor | None, chunks: Iterator[np.ndarray]
) -> np.ndarray:
    parts = [replay_orderings(sequence, indices, settings) for indices in chunks]
    ratings = np.concatenate(parts)
    if anchor is not None:
        ratings = np.array([anchor.apply(row, sequence.models) for row in ratings])
    return ratings


def _chunk_sizes(n_battles: int, replays: int) -> Iterator[int]:
    per_chunk = max(1, _MAX_INDEX_ENTRIES // max(1, n_battles))
    for start in range(0, replays, per_chunk):
        yield min(per_chunk, replays - start)


def _permutation_chunks(n_battles: int, replays: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Battles × replays index matrices, each column a random permutation of the battles."""
    for size in _chunk_sizes(n_battles, replays):
        ordered = np.broadcast_to(np.arange(n_battles, dtype=np.int32), (size, n_battles))
        yield np.ascontiguousarray(rng.permuted(ordered, axis=1).T)


def _resample_chunks(n_battles: int, replays: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Battles × replays index matrices, each column a with-replacement sample in random order."""
    for size in _chunk_sizes(n_battles, replays):
        yield rng.integers(0, n_battles, size=(n_battles, size), dtype=np.int32)
