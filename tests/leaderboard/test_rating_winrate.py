"""Win rates from aggregated counts equal the same figures computed battle by battle."""

import numpy as np
import pytest

from leaderboard.rating import (
    RatingError,
    average_win_rate,
    battle_count_matrix,
    pair_counts_from_scores,
    win_fraction_matrix,
    win_rate_against,
)

MODELS = ("base", "x", "y", "z")


def test_win_rate_and_standard_error_match_per_battle_figures_with_soft_verdicts():
    rng = np.random.default_rng(3)
    # x meets the baseline 40 times, on either side, with soft verdicts.
    x_first = rng.random(40) < 0.5
    x_score = np.clip(rng.normal(0.6, 0.3, 40), 0, 1)
    a = np.where(x_first, 1, 0)
    b = np.where(x_first, 0, 1)
    score_for_a = np.where(x_first, x_score, 1 - x_score)

    result = win_rate_against(pair_counts_from_scores(MODELS, a, b, score_for_a), "base")

    row = next(row for row in result.to_rows() if row["model"] == "x")
    assert row["win_rate"] == pytest.approx(100 * x_score.mean(), abs=1e-9)
    assert row["standard_error"] == pytest.approx(100 * x_score.std(ddof=1) / np.sqrt(40), abs=1e-9)
    assert row["n"] == 40


def test_contender_that_never_met_the_baseline_has_no_win_rate_and_sorts_last():
    counts = pair_counts_from_scores(MODELS, [1, 2, 3], [0, 0, 1], [1.0, 0.0, 1.0])

    rows = win_rate_against(counts, "base").to_rows()

    assert [row["model"] for row in rows] == ["x", "y", "z"]
    assert rows[-1] == {"model": "z", "win_rate": None, "standard_error": None, "n": 0}
    assert rows[0]["standard_error"] is None  # one battle: no spread to estimate


def test_unknown_baseline_is_refused_with_the_known_names():
    counts = pair_counts_from_scores(MODELS, [1], [0], [1.0])

    with pytest.raises(RatingError, match="'nobody'.*base, x, y, z"):
        win_rate_against(counts, "nobody")


def test_average_win_rate_weighs_each_opponent_equally():
    # x: 3 of 4 against base, 0 of 1 against y → (0.75 + 0) / 2; ties count half.
    counts = pair_counts_from_scores(MODELS, [1, 1, 1, 1, 2], [0, 0, 0, 0, 1], [1, 1, 0.5, 0.5, 1])

    rates = average_win_rate(counts)

    assert rates[1] == pytest.approx((0.75 + 0.0) / 2)
    assert rates[0] == pytest.approx(0.25)
    assert np.isnan(rates[3])


def test_fraction_and_count_matrices():
    counts = pair_counts_from_scores(MODELS, [1, 1, 2], [0, 0, 1], [1.0, 0.5, 0.0])

    fractions = win_fraction_matrix(counts)

    assert fractions[1, 0] == pytest.approx(0.75) and fractions[0, 1] == pytest.approx(0.25)
    assert fractions[2, 1] == pytest.approx(0.0) and fractions[1, 2] == pytest.approx(1.0)
    assert np.isnan(fractions[0, 3]) and np.isnan(fractions[0, 0])
    assert battle_count_matrix(counts)[0, 1] == 2 and battle_count_matrix(counts)[1, 0] == 2
