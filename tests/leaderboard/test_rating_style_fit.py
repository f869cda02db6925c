"""The style-controlled fit (Newton on grouped rows) against a straightforward per-verdict reference fit.

Tolerance. Both fits solve the same convex problem to a step of 1e-10 logits or less (1.7e-8 Elo points),
and in practice agree to 1e-12 points; the tests allow 1e-6 points, far below the 0.1 a page shows yet
far above rounding. Every mistake these tests guard against costs more: z-scoring over merged groups
instead of battles moves ratings by thousandths of a point (shown below), a lost weight or feature by
whole points.
"""

import numpy as np
import pytest

from leaderboard.rating import (
    BattleSequence,
    fit_bradley_terry,
    fit_style_controlled,
    pair_counts_from_scores,
)
from tests.leaderboard.style_reference import Verdicts, per_battle, reference_style_fit, simulated_verdicts

AGREEMENT_ELO = 1e-6


def models_of(data: Verdicts) -> tuple[str, ...]:
    return tuple(f"m{i}" for i in range(data.n_models))


def fast_fit(data: Verdicts, **options):
    score, verdicts = per_battle(data)
    sequence = BattleSequence(models_of(data), data.a, data.b, score)
    return fit_style_controlled(sequence, data.style_a, data.style_b, weights=verdicts, **options)


def test_per_battle_rows_give_the_ratings_of_a_per_verdict_reference_fit():
    data = simulated_verdicts(0)

    result = fast_fit(data)

    expected, gamma = reference_style_fit(data)
    np.testing.assert_allclose(result.ratings.ratings, expected, rtol=0, atol=AGREEMENT_ELO)
    np.testing.assert_allclose(list(result.coefficients.values()), gamma, rtol=0, atol=1e-7)
    # Not a trivial agreement: style control moves these contenders by tens of points.
    plain = fit_bradley_terry(
        pair_counts_from_scores(models_of(data), data.a[data.battle], data.b[data.battle], data.score)
    )
    assert np.max(np.abs(result.ratings.ratings - plain.ratings)) > 20
    assert result.coefficients["length"] > 0.2 and result.coefficients["bold"] < -0.1


def merged(data: Verdicts):
    """Battles with the same contenders and identical styles folded into one row each, as SQL groups them."""
    score, verdicts = per_battle(data)
    keys = np.column_stack([data.a, data.b, data.style_a, data.style_b])
    unique, row = np.unique(keys, axis=0, return_inverse=True)
    battles = np.bincount(row).astype(float)
    weight = np.bincount(row, verdicts)
    mean_score = np.bincount(row, score * verdicts) / weight
    sequence = BattleSequence(models_of(data), unique[:, 0].astype(int), unique[:, 1].astype(int), mean_score)
    return sequence, unique[:, 2:6], unique[:, 6:10], weight, battles


def templated_verdicts(seed: int) -> Verdicts:
    """Answers from a few templates per contender, as in the demo: many battles look exactly alike."""
    data = simulated_verdicts(seed, n_battles=4000)
    rng = np.random.default_rng(seed)
    templates = np.array([[40, 0, 0, 0], [900, 2, 6, 3], [400, 0, 3, 1], [1500, 4, 10, 6]], dtype=float)
    habit = rng.integers(0, 3, data.n_models)  # each contender favours two neighbouring templates
    pick = lambda side: templates[habit[side] + rng.integers(0, 2, len(side))]  # noqa: E731
    return Verdicts(data.n_models, data.a, data.b, pick(data.a), pick(data.b), data.battle, data.score)


def test_merging_identical_battles_changes_nothing_when_battles_are_counted():
    data = templated_verdicts(1)
    sequence, style_a, style_b, weight, battles = merged(data)
    assert len(sequence) < len(data.a) / 10  # the merge is real: a tenth of the rows or fewer

    result = fit_style_controlled(sequence, style_a, style_b, weights=weight, battles=battles)

    expected, _ = reference_style_fit(data)
    np.testing.assert_allclose(result.ratings.ratings, expected, rtol=0, atol=AGREEMENT_ELO)
    # Without the battle counts the features would be z-scored over groups: a thousand tolerances away.
    ignoring = fit_style_controlled(sequence, style_a, style_b, weights=weight)
    assert np.max(np.abs(ignoring.ratings.ratings - expected)) > 1000 * AGREEMENT_ELO


def test_the_prior_on_style_effects_is_negligible_with_thousands_of_battles():
    data = simulated_verdicts(2)

    result = fast_fit(data)

    # 3,000 battles: the N(0, 1) prior weighs like ~4 battles, so it moves ratings by hundredths of a point.
    unregularised, _ = reference_style_fit(data, prior_sd=float("inf"))
    assert np.max(np.abs(result.ratings.ratings - unregularised)) < 0.1


def test_features_that_always_move_together_share_their_effect_and_ratings_stay_finite():
    data = simulated_verdicts(3, n_battles=300)
    style_a, style_b = data.style_a.copy(), data.style_b.copy()
    style_a[:, 3], style_b[:, 3] = style_a[:, 1], style_b[:, 1]  # bold spans = headers, in every answer
    collinear = Verdicts(data.n_models, data.a, data.b, style_a, style_b, data.battle, data.score)

    result = fast_fit(collinear)

    # Only their sum is identified; the prior splits it evenly instead of leaving it to the solver's path.
    assert result.coefficients["headers"] == pytest.approx(result.coefficients["bold"], abs=1e-9)
    np.testing.assert_allclose(result.ratings.ratings, reference_style_fit(collinear)[0], atol=AGREEMENT_ELO)


def test_a_feature_that_decides_every_battle_gets_a_finite_effect():
    data = simulated_verdicts(4, n_battles=200)
    score, verdicts = per_battle(data)
    longer_wins = (data.style_a[:, 0] > data.style_b[:, 0]).astype(float)  # perfect separation by length

    result = fit_style_controlled(
        BattleSequence(models_of(data), data.a, data.b, longer_wins), data.style_a, data.style_b
    )

    # Without the prior the likelihood keeps rising as the length effect grows: there is no maximum.
    assert np.all(np.isfinite(result.ratings.ratings))
    assert 1 < result.coefficients["length"] < 20


def test_bootstrap_resamples_that_lose_a_finite_optimum_use_the_fallback_and_are_counted():
    data = simulated_verdicts(0, n_models=4, n_battles=15)
    ring = (data.a + 1) % 4  # each contender meets only its two neighbours, about 4 battles a pair
    sparse = Verdicts(4, data.a, ring, data.style_a, data.style_b, data.battle, data.score)

    result = fast_fit(sparse, bootstrap_rounds=50, seed=3)

    ratings = result.ratings
    assert ratings.diagnostics.bootstrap_regularised_rounds > 0
    assert np.all(np.isfinite(ratings.ci_low)) and np.all(ratings.ci_low <= ratings.ratings)
    assert np.all(ratings.ratings <= ratings.ci_high)
    assert ratings.params["style_prior_sd"] == 1.0
