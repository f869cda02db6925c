"""Bradley–Terry point estimates: equal to an independent maximum-likelihood fit, recover known strengths."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import pearsonr, spearmanr

from leaderboard.rating import (
    ELO_POINTS_PER_LOGIT,
    Anchor,
    RatingError,
    fit_bradley_terry,
    pair_counts_from_scores,
    pair_counts_from_sequence,
    simulate_battles,
)


def independent_mle_ratings(comparison_matrix: np.ndarray) -> np.ndarray:
    """Bradley–Terry MLE written from the likelihood, with its exact gradient and Hessian, on the Elo
    scale centred at 1000. θ_0 is pinned to 0 to remove the free constant, then everything is recentred."""
    n = len(comparison_matrix)

    def unpack(free):
        return np.concatenate([[0.0], free])

    def negative_log_likelihood(free):
        theta = unpack(free)
        diff = theta[:, None] - theta[None, :]
        return float(np.sum(comparison_matrix * np.logaddexp(0.0, -diff)))

    def gradient(free):
        theta = unpack(free)
        p_lose = 1.0 / (1.0 + np.exp(theta[:, None] - theta[None, :]))  # 1 − P(i beats j)
        flow = comparison_matrix * p_lose
        return -(flow.sum(axis=1) - flow.sum(axis=0))[1:]

    def hessian(free):
        theta = unpack(free)
        p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
        weight = (comparison_matrix + comparison_matrix.T) * p * (1.0 - p)
        full = np.diag(weight.sum(axis=1)) - weight
        return full[1:, 1:]

    solution = minimize(
        negative_log_likelihood,
        np.zeros(n - 1),
        jac=gradient,
        hess=hessian,
        method="trust-exact",
        options={"gtol": 1e-12},
    )
    assert solution.success, solution.message
    ratings = ELO_POINTS_PER_LOGIT * unpack(solution.x)
    return ratings - ratings.mean() + 1000.0


def test_bradley_terry_equals_an_independent_scipy_maximum_likelihood_fit():
    rng = np.random.default_rng(7)
    sequence = simulate_battles(rng.normal(1000, 150, size=8), 3000, rng, tie_rate=0.25)
    counts = pair_counts_from_sequence(sequence)

    result = fit_bradley_terry(counts)

    # Compared on the Elo scale: both sides converge far below 1e-6 points (1e-6 / 173.7 ≈ 6e-9 in θ),
    # so the tolerance measures agreement of the optimum, not of the solvers' stopping rules.
    np.testing.assert_allclose(
        result.ratings, independent_mle_ratings(counts.comparison_matrix), rtol=0, atol=1e-6
    )


def test_default_anchor_puts_the_mean_at_1000():
    rng = np.random.default_rng(1)
    counts = pair_counts_from_sequence(simulate_battles(rng.normal(1000, 100, 6), 2000, rng))

    assert fit_bradley_terry(counts).ratings.mean() == pytest.approx(1000.0, abs=1e-9)


def test_named_anchor_pins_that_contender_and_keeps_the_differences():
    rng = np.random.default_rng(2)
    counts = pair_counts_from_sequence(simulate_battles(rng.normal(1000, 100, 6), 2000, rng))

    centred = fit_bradley_terry(counts).ratings
    pinned = fit_bradley_terry(counts, anchor=Anchor(rating=1200.0, model="model-003")).ratings

    assert pinned[3] == pytest.approx(1200.0, abs=1e-9)
    np.testing.assert_allclose(pinned - centred, pinned[0] - centred[0], atol=1e-9)


def test_unknown_anchor_model_is_refused_with_its_name():
    counts = pair_counts_from_scores(("a", "b"), [0, 1], [1, 0], [1.0, 1.0])

    with pytest.raises(RatingError, match="'zeta'"):
        fit_bradley_terry(counts, anchor=Anchor(model="zeta"))


def test_two_contenders_rating_gap_is_the_log_odds_of_their_record():
    # 3 wins, 1 loss and 2 ties: a scores 4 of 6, so the MLE gap is ln(4/2) logits, in closed form.
    counts = pair_counts_from_scores(("a", "b"), [0] * 6, [1] * 6, [1, 1, 1, 0, 0.5, 0.5])

    ratings = fit_bradley_terry(counts).ratings

    assert ratings[0] - ratings[1] == pytest.approx(ELO_POINTS_PER_LOGIT * np.log(2.0), abs=1e-8)


def test_recovers_known_strengths_from_100k_simulated_battles():
    rng = np.random.default_rng(2024)
    true_ratings = rng.normal(1000, 150, size=20)
    sequence = simulate_battles(true_ratings, 100_000, rng, tie_rate=0.2)

    estimated = fit_bradley_terry(pair_counts_from_sequence(sequence)).ratings

    assert spearmanr(estimated, true_ratings).statistic >= 0.99
    assert pearsonr(estimated, true_ratings).statistic >= 0.99


def test_rows_are_sorted_best_first_without_intervals_when_not_bootstrapped():
    # c beats b and b beats a more often than not, with one upset each, so the order is c, b, a.
    a, b, c = 0, 1, 2
    counts = pair_counts_from_scores(
        ("a", "b", "c"), [b, b, a, c, c, b, a, a], [a, a, b, b, b, c, c, c], [1, 1, 1, 1, 1, 1, 0, 1]
    )

    rows = fit_bradley_terry(counts).to_rows()

    assert [row["model"] for row in rows] == ["c", "b", "a"]
    assert set(rows[0]) == {"model", "rating", "ci_low", "ci_high", "rank_ub", "n"}
    assert all(row["ci_low"] is None and row["ci_high"] is None for row in rows)
    assert [row["rank_ub"] for row in rows] == [1, 2, 3]
    assert [row["n"] for row in rows] == [5, 6, 5]
