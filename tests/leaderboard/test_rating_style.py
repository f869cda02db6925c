"""Style control: covariates, Markdown counting, and recovery of a simulated style effect."""

import numpy as np
import pytest

from leaderboard.rating import (
    ELO_POINTS_PER_LOGIT,
    STYLE_FEATURES,
    BattleSequence,
    DisconnectedGraphError,
    answer_style,
    fit_bradley_terry,
    fit_style_controlled,
    pair_counts_from_sequence,
    style_covariates,
)


def test_answer_style_counts_markdown_outside_code_blocks():
    text = "# Title\n\nSome **bold** and __also bold__.\n\n- one\n- two\n1. three\n\n```\n# not a header\n- nor a list\n```\n"

    length, headers, list_items, bold = answer_style(text)

    assert (length, headers, list_items, bold) == (len(text), 1, 3, 2)


def test_covariates_are_normalised_differences_then_z_scored():
    style_a = np.array([[10, 0, 0, 0], [30, 1, 0, 0], [5, 2, 0, 0]], dtype=float)
    style_b = np.array([[10, 0, 0, 0], [10, 0, 0, 0], [15, 0, 0, 0]], dtype=float)

    covariates = style_covariates(style_a, style_b)

    raw_length = np.array([0 / 21, 20 / 41, -10 / 21])
    expected_length = (raw_length - raw_length.mean()) / raw_length.std()
    np.testing.assert_allclose(covariates[:, 0], expected_length)
    np.testing.assert_allclose(covariates[:, 2:], 0.0)  # no variation: left at zero, not divided by zero


def simulate_with_length_bias(seed: int, n_battles: int, length_effect: float):
    """Battles whose outcome depends on strengths plus a preference for the longer answer."""
    rng = np.random.default_rng(seed)
    n = 6
    theta = rng.normal(0, 0.6, n)
    a = rng.integers(0, n, n_battles)
    b = (a + 1 + rng.integers(0, n - 1, n_battles)) % n
    style_a = np.column_stack([rng.integers(50, 800, n_battles), np.zeros((n_battles, 3))]).astype(float)
    style_b = np.column_stack([rng.integers(50, 800, n_battles), np.zeros((n_battles, 3))]).astype(float)
    covariate = style_covariates(style_a, style_b)[:, 0]
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + length_effect * covariate)))
    score = (rng.random(n_battles) < p).astype(float)
    models = tuple(f"m{i}" for i in range(n))
    return theta, BattleSequence(models, a, b, score), style_a, style_b


def test_recovers_a_simulated_length_effect_and_the_strengths_behind_it():
    theta, sequence, style_a, style_b = simulate_with_length_bias(0, 40_000, length_effect=0.5)

    result = fit_style_controlled(sequence, style_a, style_b)

    # 40k battles: standard errors are ~0.012 logits for γ and ~0.02 for θ; 0.05 is ~4 sd.
    assert result.coefficients["length"] == pytest.approx(0.5, abs=0.05)
    truth = ELO_POINTS_PER_LOGIT * (theta - theta.mean()) + 1000
    np.testing.assert_allclose(result.ratings.ratings, truth, atol=0.05 * ELO_POINTS_PER_LOGIT)
    assert set(result.coefficients) == set(STYLE_FEATURES)


def test_without_style_variation_it_is_plain_bradley_terry():
    _, sequence, style_a, _ = simulate_with_length_bias(1, 5000, length_effect=0.0)

    result = fit_style_controlled(sequence, style_a, style_a)  # identical answers: all covariates zero

    plain = fit_bradley_terry(pair_counts_from_sequence(sequence)).ratings
    # L-BFGS stops at a gradient of 1e-10 per battle; 1e-3 Elo points is far above that and far below display.
    np.testing.assert_allclose(result.ratings.ratings, plain, atol=1e-3)


def test_style_bootstrap_gives_intervals_around_the_point():
    _, sequence, style_a, style_b = simulate_with_length_bias(2, 3000, length_effect=0.3)

    result = fit_style_controlled(sequence, style_a, style_b, bootstrap_rounds=20, seed=1)

    assert np.all(result.ratings.ci_low <= result.ratings.ci_high)


def test_style_control_refuses_a_disconnected_graph():
    sequence = BattleSequence(
        ("a", "b", "c", "d"), np.array([0, 1, 2, 3]), np.array([1, 0, 3, 2]), np.ones(4)
    )
    styles = np.ones((4, 4))

    with pytest.raises(DisconnectedGraphError):
        fit_style_controlled(sequence, styles, styles)
