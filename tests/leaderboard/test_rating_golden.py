"""Reproduce published scores for real crowd votes (LLMFAO, from the evalica project).

The data live outside the repository in ``../shared/data/llmfao``; without them these tests skip.
"""

import csv

import numpy as np
import pytest

from leaderboard.battle_files import read_battle_files
from leaderboard.rating import (
    ELO_POINTS_PER_LOGIT,
    average_win_rate,
    fit_bradley_terry,
    fit_elo,
    pair_counts_from_sequence,
)
from tests.support.shared_data import SHARED_DATA, needs_shared_data

LLMFAO = SHARED_DATA / "llmfao"

pytestmark = needs_shared_data("llmfao/llmfao.csv", "llmfao/llmfao-golden.csv")


@pytest.fixture(scope="module")
def sequence():
    return read_battle_files([LLMFAO / "llmfao.csv"], "csv").sequence


def golden(algorithm: str, models: tuple[str, ...]) -> np.ndarray:
    with open(LLMFAO / "llmfao-golden.csv", newline="", encoding="utf-8") as handle:
        scores = {
            row["item"]: float(row["score"])
            for row in csv.DictReader(handle)
            if row["algorithm"] == algorithm
        }
    assert set(scores) == set(models)
    return np.array([scores[model] for model in models])


def test_reads_all_votes_and_contenders(sequence):
    assert len(sequence) == 8931
    assert len(sequence.models) == 59


def test_online_elo_matches_the_published_scores(sequence):
    result = fit_elo(sequence)  # K=4, base 10, scale 400, initial 1000, file order, tie 0.5

    np.testing.assert_allclose(result.ratings, golden("elo", sequence.models), rtol=0, atol=1e-9)


def test_bradley_terry_matches_the_published_normalised_strengths(sequence):
    result = fit_bradley_terry(pair_counts_from_sequence(sequence))

    # The reference publishes exp(θ) normalised to sum to 1; the anchor shift cancels in that ratio.
    theta = result.ratings / ELO_POINTS_PER_LOGIT
    strengths = np.exp(theta - theta.max())
    np.testing.assert_allclose(
        strengths / strengths.sum(), golden("bradley_terry", sequence.models), rtol=0, atol=1e-8
    )


def test_average_win_rate_matches_the_published_scores(sequence):
    rates = average_win_rate(pair_counts_from_sequence(sequence))

    np.testing.assert_allclose(rates, golden("average_win_rate", sequence.models), rtol=0, atol=1e-12)
