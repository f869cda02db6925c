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


@pytest.mark.parametrize(("n_battles", "by_picks"), [(150, True), (20_000, False)])
def test_both_ways_of_drawing_a_round_resample_the_battles_with_replacement(n_battles, by_picks):
    """A round is a multinomial over the cells (battles per cell / all battles): drawn cell by cell when
    cells hold many battles, or as battle picks counted per cell when they hold few. Either way each cell's
    count over many rounds has the multinomial's mean N·p and variance N·p·(1 − p)."""
    from leaderboard.rating import bootstrap

    _, counts = simulated_counts(4, n_models=8, n_battles=n_battles)
    cells = bootstrap._cells_of(counts)
    total = cells.mass.sum()
    assert bool(total < bootstrap._PICKS_PER_CELL_BELOW * len(cells.mass)) is by_picks
    rounds = 4000
    rng = _Recording(np.random.default_rng(0))
    drawn = np.concatenate(list(bootstrap._cell_draws(cells, rounds, rng)))

    assert rng.used == ({"integers"} if by_picks else {"multinomial"})

    assert drawn.shape == (rounds, len(cells.mass))
    assert np.all(drawn.sum(axis=1) == total)
    p = cells.mass / total
    expected_variance = total * p * (1 - p)
    # The mean of 4,000 rounds has a standard error sqrt(variance / 4000); 5 of them bound every cell's
    # (under 100 cells, so a false alarm has odds below 1 in 10⁴). The sample variance's relative standard
    # error is about sqrt(2 / 4000) ≈ 2.2 %, 15 % is ~7 of them.
    assert np.all(np.abs(drawn.mean(axis=0) - cells.mass) <= 5 * np.sqrt(expected_variance / rounds))
    np.testing.assert_allclose(drawn.var(axis=0), expected_variance, rtol=0.15)


class _Recording:
    """A generator that notes which of its draws were used."""

    def __init__(self, rng):
        self.rng, self.used = rng, set()

    def __getattr__(self, name):
        self.used.add(name)
        return getattr(self.rng, name)


def test_soft_verdicts_are_drawn_by_the_multinomial_keeping_the_rounded_total():
    """Fractional masses (soft verdicts) cannot be picked battle by battle: they take the multinomial."""
    from leaderboard.rating import bootstrap

    _, counts = simulated_counts(5, n_models=6, n_battles=200)
    soft = type(counts)(counts.models, counts.wins * 0.7, counts.ties * 0.7, counts.score_squares * 0.49)
    cells = bootstrap._cells_of(soft)
    assert cells.mass.sum() < bootstrap._PICKS_PER_CELL_BELOW * len(cells.mass)  # few per cell, yet soft
    rng = _Recording(np.random.default_rng(0))
    drawn = next(bootstrap._cell_draws(cells, 10, rng))

    assert rng.used == {"multinomial"}

    assert drawn.shape == (10, len(cells.mass))
    assert np.all(drawn.sum(axis=1) == round(cells.mass.sum()))
