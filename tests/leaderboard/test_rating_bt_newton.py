"""Bradley–Terry by batched Newton: the same fits as choix's I-LSR, one resample at a time, to a stated tolerance.

Tolerances: the reference fits run choix to 1e-12, i.e. exact to ~1e-10 Elo points. Our point fit stops at
Newton steps below 1e-12 logits and must agree within 1e-6 points. Bootstrap rounds stop at steps below 1e-8
logits (4e-7 points, and the last step of a contracting iteration bounds the remaining error by about the same
amount), so intervals must agree within 1e-5 points — a hundred thousand times finer than the one decimal shown.
"""

import choix
import numpy as np
import pytest

from leaderboard.rating import (
    Anchor,
    RatingError,
    fit_bradley_terry,
    pair_counts_from_sequence,
    simulate_battles,
)
from leaderboard.rating.bootstrap import resampled_comparison_matrices, resampled_comparison_stacks
from leaderboard.rating.bt_newton import curvature_inverse, log_strengths_near, log_strengths_newton
from leaderboard.rating.intervals import percentile_interval
from leaderboard.rating.scale import ELO_POINTS_PER_LOGIT


def counts_for(seed: int, n_models: int, n_battles: int, spread: float = 150.0):
    rng = np.random.default_rng(seed)
    return pair_counts_from_sequence(
        simulate_battles(rng.normal(1000, spread, n_models), n_battles, rng, tie_rate=0.2)
    )


def choix_log_strengths(matrix: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray:
    theta = choix.ilsr_pairwise_dense(matrix, initial_params=initial, tol=1e-12, max_iter=10_000)
    return theta - theta.mean()


@pytest.mark.parametrize(
    ("seed", "n_models", "n_battles", "spread"),
    [(0, 5, 400, 100.0), (1, 30, 20_000, 150.0), (2, 12, 3000, 350.0)],
    ids=["small", "thirty", "lopsided"],
)
def test_point_fit_equals_choix_ilsr(seed, n_models, n_battles, spread):
    counts = counts_for(seed, n_models, n_battles, spread)
    assert fit_bradley_terry(counts).diagnostics.regularisation_alpha is None  # a plain MLE, no regulariser

    ratings = fit_bradley_terry(counts).ratings

    expected = ELO_POINTS_PER_LOGIT * choix_log_strengths(counts.comparison_matrix) + 1000.0
    np.testing.assert_allclose(ratings, expected, rtol=0, atol=1e-6)


def test_vectorised_bootstrap_equals_one_choix_fit_per_resample():
    counts = counts_for(3, 25, 30_000)
    anchor = Anchor(1200.0, "model-003")
    point = choix_log_strengths(counts.comparison_matrix)

    result = fit_bradley_terry(counts, anchor=anchor, bootstrap_rounds=150, seed=11)

    samples = [
        anchor.apply(ELO_POINTS_PER_LOGIT * choix_log_strengths(matrix, point), counts.models)
        for matrix in resampled_comparison_matrices(counts, 150, np.random.default_rng(11))
    ]
    low, high = percentile_interval(np.array(samples))
    np.testing.assert_allclose(result.ci_low, low, rtol=0, atol=1e-5)
    np.testing.assert_allclose(result.ci_high, high, rtol=0, atol=1e-5)


def test_stacks_hold_the_same_resamples_in_the_same_order():
    counts = counts_for(4, 8, 2000)

    stacked = np.concatenate(list(resampled_comparison_stacks(counts, 130, np.random.default_rng(5))))

    one_by_one = np.array(list(resampled_comparison_matrices(counts, 130, np.random.default_rng(5))))
    np.testing.assert_array_equal(stacked, one_by_one)


def test_a_resample_far_from_the_centre_is_finished_by_full_newton():
    counts = counts_for(6, 6, 3000)
    centre = counts.comparison_matrix
    theta = log_strengths_newton(centre[np.newaxis], None, tol=1e-12, max_iter=100)[0]
    # Reversed results: the centre's curvature is a poor guide, the fixed-curvature steps stall.
    far = centre.T.copy()

    fitted = log_strengths_near(
        np.stack([centre, far]), theta, curvature_inverse(centre, theta), tol=1e-10, max_iter=100
    )

    np.testing.assert_allclose(fitted[0], theta, atol=1e-9)
    np.testing.assert_allclose(fitted[1], choix_log_strengths(far), atol=1e-8)


def test_newton_that_cannot_converge_in_time_says_so():
    counts = counts_for(7, 10, 2000, spread=300.0)

    with pytest.raises(RatingError, match="did not converge in 1 Newton iterations"):
        log_strengths_newton(counts.comparison_matrix[np.newaxis], None, tol=1e-12, max_iter=1)
