"""Reproduce the QLoRA paper's GPT-4-judged Elo table on the Vicuna benchmark from its released reviews.

The data live outside the repository in ``../shared/data/vicuna80`` (from artidoro/qlora); without them these
tests skip. The paper (Dettmers et al., 2023, "Elo rating for a tournament between models ... judged by GPT-4";
the figures are also reprinted in Huyen, *AI Engineering*, Table 7-7) averages online Elo (K = 32, initial 1000)
over 10,000 random orderings and publishes, with a ±1 interval of the mean:
GPT-4 1348, Guanaco-65B 1022, Guanaco-33B 992, Vicuna-13B 974, ChatGPT 966, Guanaco-13B 916, Bard 902,
Guanaco-7B 879.

What the released reviews give (``rate --format qlora --method elo --k 32 --permutations 10000``): the same
order, and the seven models below GPT-4 within 7 points of the table; GPT-4 comes out about 27 points higher
(1375). The ±1 in the paper and our own Monte-Carlo error (about 0.5 points at 10,000 orderings) are far
below these gaps, so they are a difference in the data — the released files hold 4,480 reviews (13 unparsed),
and the table may rest on a slightly different set — not noise. The tolerances below are those observed
gaps rounded up, so a regression that moves any rating by more than a point or two beyond them fails.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.shared_data import SHARED_DATA, needs_shared_data

REVIEWS = SHARED_DATA / "vicuna80" / "gpt4-pairwise"

pytestmark = needs_shared_data("vicuna80/gpt4-pairwise")

# System names come from the review file names.
PAPER_NAMES = {
    "answer-gpt4": "GPT-4",
    "65b-guanaco-vicuna-generations-topp0.9-temp0.7": "Guanaco-65B",
    "30b-guanaco-vicuna-generations-topp0.9-temp0.7": "Guanaco-33B",
    "answer-vicuna-13b": "Vicuna-13B",
    "answer-gpt35": "ChatGPT",
    "13b-guanaco-vicuna-generations-topp0.9-temp0.7": "Guanaco-13B",
    "answer-bard": "Bard",
    "7b-guanaco-vicuna-generations-topp0.9-temp0.7": "Guanaco-7B",
}
PUBLISHED = {
    "GPT-4": 1348,
    "Guanaco-65B": 1022,
    "Guanaco-33B": 992,
    "Vicuna-13B": 974,
    "ChatGPT": 966,
    "Guanaco-13B": 916,
    "Bard": 902,
    "Guanaco-7B": 879,
}
# Observed |ours − published| is at most 6.2 below GPT-4 and 26.7 for GPT-4 (see the module docstring).
TOLERANCE = {name: 7.0 for name in PUBLISHED} | {"GPT-4": 30.0}


def rate_json(*args: str) -> tuple[list[dict], str]:
    out, err = StringIO(), StringIO()
    call_command("rate", str(REVIEWS), "--format", "qlora", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


@pytest.fixture(scope="module")
def averaged_elo():
    return rate_json("--method", "elo", "--k", "32", "--permutations", "10000")


def test_averaged_elo_gives_the_papers_order(averaged_elo):
    rows, err = averaged_elo

    assert [PAPER_NAMES[row["model"]] for row in rows] == list(PUBLISHED)
    assert "skipped 13 unparsed reviews" in err


def test_averaged_elo_is_within_the_explained_tolerance_of_the_published_ratings(averaged_elo):
    rows, _ = averaged_elo

    for row in rows:
        name = PAPER_NAMES[row["model"]]
        assert abs(row["rating"] - PUBLISHED[name]) <= TOLERANCE[name], (name, row["rating"])


def test_bradley_terry_gives_the_same_order_with_every_averaged_elo_inside_its_interval(averaged_elo):
    elo_rows, _ = averaged_elo
    bt_rows, _ = rate_json("--method", "bt", "--bootstrap", "1000")

    assert [row["model"] for row in bt_rows] == [row["model"] for row in elo_rows]
    bt = {row["model"]: row for row in bt_rows}
    for row in elo_rows:
        interval = bt[row["model"]]
        assert interval["ci_low"] <= interval["rating"] <= interval["ci_high"]
        assert interval["ci_low"] <= row["rating"] <= interval["ci_high"], row["model"]
