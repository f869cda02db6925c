"""Folding battles into per-pair counts: hard outcomes, soft verdicts, pre-grouped rows."""

import numpy as np
import pytest

from leaderboard.rating import BattleSequence, RatingError, pair_counts_from_scores, pair_counts_from_sequence

MODELS = ("a", "b", "c")


def test_hard_outcomes_land_in_the_right_cells():
    # a beats b twice, b beats a once, a and c tie, c beats b.
    counts = pair_counts_from_scores(MODELS, [0, 0, 1, 0, 2], [1, 1, 0, 2, 1], [1, 1, 1, 0.5, 1])

    expected_wins = np.array([[0, 2, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(counts.wins, expected_wins)
    np.testing.assert_array_equal(counts.ties, np.array([[0, 0, 1], [0, 0, 0], [1, 0, 0]]))
    np.testing.assert_array_equal(counts.battles, np.array([[0, 3, 1], [3, 0, 1], [1, 1, 0]]))
    np.testing.assert_array_equal(counts.battles_per_model, [4, 4, 2])


def test_comparison_matrix_counts_a_tie_as_half_a_win_each_way():
    counts = pair_counts_from_scores(MODELS, [0, 0], [1, 1], [0.5, 1.0])

    assert counts.comparison_matrix[0, 1] == 1.5
    assert counts.comparison_matrix[1, 0] == 0.5


def test_soft_verdict_splits_into_win_and_tie_mass_that_preserves_the_score():
    counts = pair_counts_from_scores(MODELS, [0], [1], [0.8])

    assert counts.wins[0, 1] == pytest.approx(0.6)
    assert counts.ties[0, 1] == pytest.approx(0.4)
    assert counts.comparison_matrix[0, 1] == pytest.approx(0.8)
    assert counts.comparison_matrix[1, 0] == pytest.approx(0.2)
    assert counts.battles[0, 1] == pytest.approx(1.0)
    assert counts.score_squares[0, 1] == pytest.approx(0.64)
    assert counts.score_squares[1, 0] == pytest.approx(0.04)


def test_weights_stand_for_grouped_rows_like_a_sql_group_by():
    one_by_one = pair_counts_from_scores(MODELS, [0, 0, 0, 1], [1, 1, 1, 2], [1, 1, 0.5, 0])
    grouped = pair_counts_from_scores(MODELS, [0, 0, 1], [1, 1, 2], [1, 0.5, 0], weights=[2, 1, 1])

    np.testing.assert_array_equal(one_by_one.wins, grouped.wins)
    np.testing.assert_array_equal(one_by_one.ties, grouped.ties)
    np.testing.assert_array_equal(one_by_one.score_squares, grouped.score_squares)


def test_sequence_and_score_arrays_give_the_same_counts():
    sequence = BattleSequence(MODELS, np.array([0, 2]), np.array([1, 0]), np.array([1.0, 0.5]))

    from_sequence = pair_counts_from_sequence(sequence)
    direct = pair_counts_from_scores(MODELS, sequence.a, sequence.b, sequence.score)

    np.testing.assert_array_equal(from_sequence.comparison_matrix, direct.comparison_matrix)


@pytest.mark.parametrize(
    ("a", "b", "score", "message"),
    [
        ([0], [0], [1.0], "against itself"),
        ([0], [3], [1.0], "outside"),
        ([0], [1], [1.5], "must lie in"),
        ([0], [1], [float("nan")], "must lie in"),
        ([0, 1], [1], [1.0, 0.0], "differ in length"),
    ],
)
def test_invalid_battles_are_refused(a, b, score, message):
    with pytest.raises(RatingError, match=message):
        pair_counts_from_scores(MODELS, a, b, score)


def test_negative_weights_are_refused():
    with pytest.raises(RatingError, match="weights"):
        pair_counts_from_scores(MODELS, [0], [1], [1.0], weights=[-1])
