"""Ill-posed data is reported, never hidden: disconnected graphs and contenders without a finite MLE."""

import numpy as np
import pytest

from leaderboard.rating import (
    FALLBACK_ALPHA,
    Anchor,
    DisconnectedGraphError,
    NoMaximumLikelihoodError,
    diagnose,
    fit_bradley_terry,
    fit_elo,
    pair_counts_from_scores,
)
from leaderboard.rating.sequence import BattleSequence

# Two groups that never met: {a, b} and {c, d, e}; every pair inside a group won and lost at least once.
TWO_GROUPS = pair_counts_from_scores(
    ("a", "b", "c", "d", "e"),
    [0, 1, 2, 3, 3, 4, 4, 2],
    [1, 0, 3, 2, 4, 3, 2, 4],
    [1, 1, 1, 1, 1, 1, 1, 1],
)

# "top" beat both others and never lost; "x" and "y" split their games.
UNBEATEN = pair_counts_from_scores(("top", "x", "y"), [0, 0, 0, 1, 2], [1, 2, 1, 2, 1], [1, 1, 1, 1, 1])


def test_disconnected_graph_lists_its_components_by_name():
    diagnostics = diagnose(TWO_GROUPS)

    assert not diagnostics.connected
    assert diagnostics.components == [["c", "d", "e"], ["a", "b"]]


def test_disconnected_graph_is_refused_with_the_components_in_the_error():
    with pytest.raises(DisconnectedGraphError) as caught:
        fit_bradley_terry(TWO_GROUPS)

    assert caught.value.diagnostics.components == [["c", "d", "e"], ["a", "b"]]
    assert "c, d, e; a, b" in str(caught.value)
    assert "per_component" in str(caught.value)


def test_per_component_fit_anchors_each_component_on_its_own_and_reports_them():
    result = fit_bradley_terry(TWO_GROUPS, per_component=True)

    assert result.ratings[:2].mean() == pytest.approx(1000.0)
    assert result.ratings[2:].mean() == pytest.approx(1000.0)
    assert len(result.diagnostics.components) == 2
    assert any("not comparable" in note for note in result.diagnostics.notes())


def test_per_component_named_anchor_pins_its_own_component_only():
    result = fit_bradley_terry(TWO_GROUPS, per_component=True, anchor=Anchor(rating=1500.0, model="d"))

    assert result.ratings[3] == pytest.approx(1500.0)
    assert result.ratings[:2].mean() == pytest.approx(1500.0)


def test_never_lost_contender_is_reported_and_regularised_only_because_it_must():
    result = fit_bradley_terry(UNBEATEN)

    assert result.diagnostics.never_lost == ["top"]
    assert result.diagnostics.never_won == []
    assert not result.diagnostics.mle_exists
    assert result.diagnostics.regularisation_alpha == FALLBACK_ALPHA
    assert np.all(np.isfinite(result.ratings))
    assert result.to_rows()[0]["model"] == "top"
    assert "never lost: top" in result.diagnostics.notes()


def test_never_lost_contender_is_refused_when_regularisation_is_not_allowed():
    with pytest.raises(NoMaximumLikelihoodError, match="never lost: top"):
        fit_bradley_terry(UNBEATEN, fallback_alpha=None)


def test_never_won_contender_is_reported():
    counts = pair_counts_from_scores(("x", "y", "bottom"), [0, 1, 0, 1], [1, 0, 2, 2], [1, 1, 1, 1])

    diagnostics = diagnose(counts)

    assert diagnostics.never_won == ["bottom"]
    assert not diagnostics.mle_exists


def test_a_tie_counts_as_half_a_win_so_a_tied_contender_has_a_finite_mle():
    counts = pair_counts_from_scores(("x", "y"), [0, 0], [1, 1], [1, 0.5])

    diagnostics = diagnose(counts)

    assert diagnostics.never_lost == [] and diagnostics.mle_exists


def test_group_that_never_lost_to_outsiders_has_no_mle_although_everyone_lost_once():
    # a and b beat each other; both beat c and d, who beat each other: nobody is unbeaten, yet no MLE.
    counts = pair_counts_from_scores(
        ("a", "b", "c", "d"), [0, 1, 0, 1, 2, 3], [1, 0, 2, 3, 3, 2], [1, 1, 1, 1, 1, 1]
    )

    diagnostics = diagnose(counts)

    assert diagnostics.never_lost == [] and diagnostics.never_won == []
    assert not diagnostics.mle_exists


def test_well_posed_data_is_not_regularised():
    counts = pair_counts_from_scores(("x", "y"), [0, 1], [1, 0], [1, 1])

    result = fit_bradley_terry(counts)

    assert result.diagnostics.mle_exists
    assert result.diagnostics.regularisation_alpha is None
    assert result.diagnostics.notes() == []


def test_elo_reports_diagnostics_without_refusing():
    sequence = BattleSequence(("a", "b", "c", "d"), np.array([0, 2]), np.array([1, 3]), np.array([1.0, 1.0]))

    result = fit_elo(sequence)

    assert result.diagnostics.components == [["a", "b"], ["c", "d"]]
    assert result.diagnostics.never_lost == ["a", "c"]
