"""Report-card statistics on small cases computed by hand (no database)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from judges.report import metrics
from judges.report.card import BattleRow, BoardRow, JudgmentRow, ReportRows, VerdictRow, VoteRow, report_card
from judges.report.metrics import DRAW, ERROR, FIRST, SECOND, TIE, A, B

ROOT = Path(__file__).resolve().parents[2]


def test_cohen_kappa_on_a_known_two_by_two_table():
    # Table [[20, 5], [10, 15]]: p_o = 35/50 = 0.7, p_e = (25·30 + 25·20)/50² = 0.5, κ = 0.2/0.5 = 0.4.
    x = [0] * 25 + [1] * 25
    y = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    assert metrics.cohen_kappa(np.array(x), np.array(y), n_labels=2) == pytest.approx(0.4, abs=1e-12)


def test_cohen_kappa_is_undefined_when_both_raters_always_say_the_same_label():
    assert metrics.cohen_kappa(np.zeros(5, dtype=int), np.zeros(5, dtype=int)) is None


def test_krippendorff_alpha_on_the_textbook_reliability_data():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders × 12 units with missing
    # values; the published nominal α is 0.743.
    nan = None
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    counts = np.zeros((12, 5))
    for coder in data:
        for unit, value in enumerate(coder):
            if value is not None:
                counts[unit, value - 1] += 1
    assert metrics.krippendorff_alpha_nominal(counts) == pytest.approx(
        0.743, abs=5e-4
    )  # published to 3 places


def test_kendall_tau_b_and_spearman_with_ties_and_confident_pairs():
    # x = [1, 2, 2, 3], y = [1, 3, 2, 2]: 3 concordant, 1 discordant, one tie in x only, one in y only:
    # τ-b = (3 − 1) / √((6 − 1)(6 − 1)) = 0.4. Ranks [1, 2.5, 2.5, 4] and [1, 4, 2.5, 2.5]: ρ = 2.25/4.5 = 0.5.
    rating_j, rating_p = np.array([1.0, 2, 2, 3]), np.array([1.0, 3, 2, 2])
    # Intervals: the judge separates 0 from 3 only (0 below 3); the people separate 0 from 3 and 0 from 1.
    judge = (rating_j, np.array([0.5, 0.0, 0.0, 2.6]), np.array([1.5, 2.5, 2.5, 3.5]))
    people = (rating_p, np.array([0.8, 2.5, 1.5, 1.5]), np.array([1.2, 3.5, 2.5, 2.5]))
    figures = metrics.board_agreement(judge, people)
    assert figures["kendall_tau_b"].value == pytest.approx(0.4, abs=1e-12)
    assert figures["spearman_rho"].value == pytest.approx(0.5, abs=1e-12)
    # Pairs both boards separate the same way: only (0, 3), out of 6 pairs.
    assert figures["confident_same"].value == pytest.approx(1 / 6, abs=1e-12)
    assert figures["confident_same"].n == 6


def test_position_classes_cover_every_case_and_sum_to_one():
    shown = np.array([FIRST, SECOND, TIE, FIRST, SECOND, TIE, FIRST, ERROR])
    swapped = np.array([SECOND, FIRST, TIE, FIRST, SECOND, FIRST, TIE, FIRST])
    names = [metrics.POSITION_CLASSES[k] for k in metrics.position_classes(shown, swapped)]
    assert names == [
        "consistent", "consistent", "consistent", "biased_first", "biased_second", "other", "other", "error",
    ]  # fmt: skip
    figures = metrics.position_figures(shown, swapped, rounds=200)
    assert figures["consistent"].value == pytest.approx(3 / 8)
    assert sum(f.value for f in figures.values()) == pytest.approx(1.0, abs=1e-12)
    low, high = figures["consistent"].low, figures["consistent"].high
    assert 0.0 <= low <= 3 / 8 <= high <= 1.0


def test_prefer_first_and_prefer_longer_count_only_the_eligible_judgments():
    cluster = np.array([1, 1, 2, 2, 3])
    choice = np.array([FIRST, SECOND, FIRST, TIE, ERROR])
    assert metrics.prefer_first(cluster, choice, rounds=0).value == pytest.approx(2 / 3)
    first_len = np.array([10, 10, 5, 7, 9])
    second_len = np.array([5, 10, 8, 3, 1])
    # Eligible: decisive with different lengths → items 0 (chose 10 over 5: longer) and 2 (chose 5 over 8).
    figure = metrics.prefer_more(cluster, choice, first_len, second_len, rounds=0)
    assert (figure.value, figure.n) == (0.5, 2)


def test_people_pair_agreement_is_the_share_of_agreeing_vote_pairs():
    # Unit 1: two A votes and one B: 3 pairs, 1 agreeing; unit 2: two draws: 1 pair, agreeing.
    counts = np.array([[2, 1, 0], [0, 0, 2]])
    assert metrics.people_pair_agreement(counts, rounds=0).value == pytest.approx(2 / 4)
    # Without ties only unit 1's A/B votes make pairs.
    assert metrics.people_pair_agreement(counts, ties=False, rounds=0).value == pytest.approx(1 / 3)


def test_a_figure_without_data_is_none_not_a_default():
    figure = metrics.share(np.array([]), np.array([]))
    assert (figure.value, figure.n, figure.low) == (None, 0, None)


def test_report_card_on_hand_made_rows():
    battles = [
        BattleRow(1, 10, 20, chars_a=100, chars_b=50, own_a=True),
        BattleRow(2, 10, 30, chars_a=40, chars_b=80, own_a=True),
        BattleRow(3, 20, 30, chars_a=60, chars_b=60),
    ]
    judgments = [
        JudgmentRow(1, "shown", "A", cost=0.002, latency_ms=100),  # A first → chose A
        JudgmentRow(1, "swapped", "B", cost=0.002, latency_ms=300),  # B first → chose A: consistent
        JudgmentRow(2, "shown", "A", cost=0.002, latency_ms=200),  # chose A
        JudgmentRow(2, "swapped", "A", cost=0.002, latency_ms=200),  # chose B: biased to first
        JudgmentRow(3, "shown", None),  # unparsed: error
        JudgmentRow(3, "swapped", "tie"),
    ]
    verdicts = [VerdictRow(1, "a"), VerdictRow(2, "tie")]
    votes = [VoteRow(1, "u1", "a"), VoteRow(1, "u2", "a"), VoteRow(2, "u1", "b"), VoteRow(2, "u2", "b")]
    board_j = [BoardRow(10, 1100, 1050, 1150), BoardRow(20, 1000, 950, 1040), BoardRow(30, 900, 850, 960)]
    board_p = [BoardRow(10, 1050, 1000, 1100), BoardRow(20, 900, 880, 990), BoardRow(30, 1000, 920, 1080)]
    card = report_card(ReportRows(judgments, battles, verdicts, votes, board_j, board_p), rounds=100)
    assert (card["consistent"], card["biased_first"], card["error"]) == (pytest.approx(1 / 3),) * 3
    assert card["prefer_first"] == pytest.approx(3 / 4)  # of the 4 decisive judgments, 3 chose position A
    # Decisive judgments with different lengths: b1 shown (chose 100 over 50), b1 swapped (chose A=100),
    # b2 shown (chose 40 over 80), b2 swapped (chose B=80 over 40) → 3 of 4 chose the longer.
    assert card["prefer_longer"] == pytest.approx(3 / 4)
    assert card["people_prefer_longer"] == pytest.approx(1.0)  # b1: both votes for 100 chars; b2: both for 80
    # Own contender 10 is A in b1 (judge: a → 1) and b2 (judge: tie → 0.5); people: 1 and 0.
    assert card["self_preference"] == pytest.approx(0.75)
    assert card["people_self_preference"] == pytest.approx(0.5)
    assert card["agreement"] == pytest.approx(0.5)  # b1 agrees (a, a); b2 does not (draw vs b)
    assert card["agreement_no_ties"] == pytest.approx(1.0)  # only b1 is decisive on both sides
    assert card["people_agreement"] == pytest.approx(1.0)
    assert card["kendall_tau_b"] == pytest.approx(1 / 3)  # orders 10>20>30 vs 10>30>20: 2 C, 1 D
    assert card["parse_failures_per_1000"] == pytest.approx(1000 / 6)
    assert card["cost_per_1000"] == pytest.approx(1000 * 0.008 / 6)
    assert card["latency_ms_mean"] == pytest.approx(200.0)
    assert card["figures"]["consistent"]["n"] == 3


def test_report_metrics_and_card_import_without_django():
    probe = (
        "import sys, judges.report.metrics, judges.report.card;"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))[:3])"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_side_codes_line_up_with_position_codes():
    # People's A/B votes go through the same `prefer_more` as the judge's FIRST/SECOND choices.
    assert (A, B, DRAW) == (FIRST, SECOND, TIE)
