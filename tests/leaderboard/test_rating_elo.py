"""Online Elo: the update rule by hand, order dependence, bootstrap in original order."""

import numpy as np
import pytest

from leaderboard.rating import Anchor, BattleSequence, EloSettings, fit_elo, online_elo


def sequence_of(*battles: tuple[int, int, float]) -> BattleSequence:
    a, b, score = zip(*battles, strict=True)
    return BattleSequence(("A", "B", "C"), np.array(a), np.array(b), np.array(score, dtype=float))


def test_three_battles_match_the_elo_formula_worked_by_hand():
    # K = 32, scale 400, base 10, everyone starts at 1500.
    battles = sequence_of((0, 1, 1.0), (1, 2, 0.5), (2, 0, 1.0))

    ratings = online_elo(battles, EloSettings(k=32, initial=1500))

    # 1) A beats B at equal ratings: expected 0.5, so A +16, B −16.
    a, b, c = 1516.0, 1484.0, 1500.0
    # 2) B (1484) ties C (1500): B expected 1 / (1 + 10^(16/400)).
    b_expected = 1 / (1 + 10 ** (16 / 400))
    b, c = b + 32 * (0.5 - b_expected), c - 32 * (0.5 - b_expected)
    # 3) C beats A (1516).
    c_expected = 1 / (1 + 10 ** ((1516 - c) / 400))
    c, a = c + 32 * (1 - c_expected), a - 32 * (1 - c_expected)
    np.testing.assert_allclose(ratings, [a, b, c], rtol=0, atol=1e-9)


def test_default_settings_are_k4_scale400_base10_initial1000():
    ratings = online_elo(sequence_of((0, 1, 1.0)))

    np.testing.assert_allclose(ratings, [1002.0, 998.0, 1000.0])


def test_order_matters_for_elo():
    forward = online_elo(sequence_of((0, 1, 1.0), (1, 0, 1.0), (0, 2, 1.0)))
    backward = online_elo(sequence_of((0, 2, 1.0), (1, 0, 1.0), (0, 1, 1.0)))

    assert not np.allclose(forward, backward)


def test_updates_are_zero_sum_so_the_mean_stays_at_the_initial_rating():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 200)
    b = (a + 1 + rng.integers(0, 2, 200)) % 3
    sequence = BattleSequence(("A", "B", "C"), a, b, rng.choice([0.0, 0.5, 1.0], 200))

    assert online_elo(sequence).mean() == pytest.approx(1000.0)


def test_elo_result_with_bootstrap_and_anchor():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 300)
    b = (a + 1 + rng.integers(0, 2, 300)) % 3
    sequence = BattleSequence(("A", "B", "C"), a, b, (rng.random(300) < 0.5 + 0.2 * (a == 0)).astype(float))

    result = fit_elo(sequence, anchor=Anchor(1200.0, "B"), bootstrap_rounds=20, seed=5)

    assert result.ratings[1] == pytest.approx(1200.0)
    assert result.ci_low is not None and np.all(result.ci_low <= result.ci_high)
    assert result.params["k"] == 4.0 and result.method == "elo"
    assert [row["n"] for row in sorted(result.to_rows(), key=lambda r: r["model"])] == list(
        np.bincount(np.concatenate([a, b]), minlength=3)
    )
