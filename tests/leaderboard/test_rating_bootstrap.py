"""Bootstrap intervals: reproducible, centred on the full-data fit, and honest about coverage."""

import numpy as np
import pytest

from leaderboard.rating import (
    Anchor,
    fit_bradley_terry,
    pair_counts_from_sequence,
    simulate_battles,
)
from leaderboard.rating.bootstrap import resampled_comparison_matrices
from leaderboard.rating.intervals import rank_upper_bound


def simulated_counts(seed: int, n_models: int = 12, n_battles: int = 5000):
    rng = np.random.default_rng(seed)
    true_ratings = rng.normal(1000, 120, size=n_models)
    return true_ratings, pair_counts_from_sequence(
        simulate_battles(true_ratings, n_battles, rng, tie_rate=0.2)
    )


def test_each_resample_keeps_the_number_of_battles():
    _, counts = simulated_counts(0)
    total = counts.battles.sum() / 2

    for matrix in resampled_comparison_matrices(counts, 5, np.random.default_rng(0)):
        assert matrix.sum() == pytest.approx(total)


def test_same_seed_same_intervals_and_the_point_is_the_full_data_fit():
    _, counts = simulated_counts(1)

    first = fit_bradley_terry(counts, bootstrap_rounds=50, seed=3)
    second = fit_bradley_terry(counts, bootstrap_rounds=50, seed=3)

    np.testing.assert_array_equal(first.ci_low, second.ci_low)
    np.testing.assert_array_equal(first.ratings, fit_bradley_terry(counts).ratings)
    assert np.all(first.ci_low <= first.ratings) and np.all(first.ratings <= first.ci_high)


def test_named_anchor_has_no_spread_because_every_round_pins_it():
    _, counts = simulated_counts(2)

    result = fit_bradley_terry(counts, bootstrap_rounds=30, seed=0, anchor=Anchor(1100.0, "model-004"))

    assert result.ci_low[4] == pytest.approx(1100.0) and result.ci_high[4] == pytest.approx(1100.0)


def test_rank_upper_bound_counts_only_contenders_confidently_better():
    low = np.array([1100.0, 1050.0, 900.0])
    high = np.array([1200.0, 1150.0, 1000.0])

    # Nobody's lower bound clears the first two uppers; both lower bounds clear the third's upper.
    np.testing.assert_array_equal(rank_upper_bound(low, high), [1, 1, 3])


def test_95_percent_intervals_cover_the_true_rating_about_95_percent_of_the_time():
    covered = total = 0
    for seed in range(20):
        true_ratings, counts = simulated_counts(100 + seed, n_models=15, n_battles=4000)
        result = fit_bradley_terry(counts, bootstrap_rounds=200, seed=seed)
        truth = true_ratings - true_ratings.mean() + 1000.0  # the same anchor as the fit: mean 1000
        covered += int(np.sum((result.ci_low <= truth) & (truth <= result.ci_high)))
        total += len(truth)

    # 300 intervals: at a true 95 %, the binomial sd is 1.3 points, so 90–99 % allows ~4 sd below and
    # ~3 sd above while still catching intervals that are clearly too narrow or too wide.
    assert 0.90 <= covered / total <= 0.99
