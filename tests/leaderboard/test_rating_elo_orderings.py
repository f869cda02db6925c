"""Online Elo over many orderings: the vectorised replay equals one-at-a-time replays; seeds reproduce."""

import numpy as np
import pytest

from leaderboard.rating import (
    Anchor,
    BattleSequence,
    EloSettings,
    RatingError,
    fit_elo_orderings,
    online_elo,
    replay_orderings,
)


@pytest.fixture
def sequence():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 5, size=300)
    b = (a + rng.integers(1, 5, size=300)) % 5
    score = rng.choice([0.0, 0.5, 1.0], size=300, p=[0.3, 0.2, 0.5])
    return BattleSequence(("m0", "m1", "m2", "m3", "m4"), a, b, score)


def test_each_column_replays_like_online_elo_in_that_order(sequence):
    rng = np.random.default_rng(1)
    columns = np.stack([rng.permutation(len(sequence)) for _ in range(4)], axis=1)
    settings = EloSettings(k=32, scale=300, base=np.e, initial=1500)

    together = replay_orderings(sequence, columns, settings)

    one_by_one = [online_elo(sequence.take(columns[:, r]), settings) for r in range(4)]
    np.testing.assert_allclose(together, one_by_one, rtol=0, atol=1e-9)


def test_the_average_and_interval_are_those_of_the_orderings_and_the_seed_reproduces_them(sequence):
    first = fit_elo_orderings(sequence, permutations=200, seed=3)
    again = fit_elo_orderings(sequence, permutations=200, seed=3)
    other = fit_elo_orderings(sequence, permutations=200, seed=4)

    np.testing.assert_array_equal(first.ratings, again.ratings)
    assert not np.array_equal(first.ratings, other.ratings)
    assert first.ratings.mean() == pytest.approx(1000.0)  # zero-sum updates keep the mean at initial
    assert np.all(first.ci_low < first.ratings) and np.all(first.ratings < first.ci_high)
    assert first.params["permutations"] == 200 and first.params["interval"] == "orderings"


def test_chunks_do_not_change_the_figures(sequence, monkeypatch):
    whole = fit_elo_orderings(sequence, permutations=50, seed=0)
    monkeypatch.setattr("leaderboard.rating.elo_orderings._MAX_INDEX_ENTRIES", len(sequence) * 7)

    chunked = fit_elo_orderings(sequence, permutations=50, seed=0)

    # Chunks draw the same permutations in the same order from one generator.
    np.testing.assert_allclose(chunked.ratings, whole.ratings, rtol=0, atol=1e-9)


def test_bootstrap_rounds_give_the_interval_and_anchor_shifts_every_replay(sequence):
    result = fit_elo_orderings(
        sequence, permutations=100, bootstrap_rounds=100, seed=0, anchor=Anchor(1200.0, "m2")
    )

    assert result.params["interval"] == "bootstrap"
    assert result.ratings[2] == pytest.approx(1200.0)
    assert result.ci_low[2] == pytest.approx(1200.0) and result.ci_high[2] == pytest.approx(1200.0)


def test_bad_counts_are_refused(sequence):
    with pytest.raises(RatingError, match="permutations must be 1 or more, not 0"):
        fit_elo_orderings(sequence, permutations=0)
    with pytest.raises(RatingError, match="bootstrap_rounds must be 0 or more"):
        fit_elo_orderings(sequence, permutations=5, bootstrap_rounds=-1)


def test_without_ties_keeps_decisive_battles_in_order(sequence):
    decisive = sequence.without_ties()

    assert len(decisive) == int(np.sum(sequence.score != 0.5))
    assert set(decisive.score.tolist()) <= {0.0, 1.0}
