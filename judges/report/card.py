"""The report card of one judge source on one dimension, from plain rows (no Django).

Whoever has the rows can get a card: `judges.report.selectors` reads them for an LLM judge config (its
judgments in both orders, its final verdicts, people's votes on the same battles, both leaderboards); a jury
feeds its own per-order verdicts through the same `report_card`. Every row is about one dimension.

A *unit* for the position figures is a battle: one prompt and an unordered pair of contenders, judged once
with the battle's answer A shown first (order "shown") and once with B first ("swapped").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from judges.report import metrics
from judges.report.metrics import DRAW, ERROR, FIRST, SECOND, TIE, Figure

SHOWN, SWAPPED = "shown", "swapped"
_POSITION = {"A": FIRST, "B": SECOND, "tie": TIE, None: ERROR}
_SIDE = {"a": metrics.A, "b": metrics.B, "tie": DRAW, "both_bad": DRAW}
SIDE_NAMES = {metrics.A: "a", metrics.B: "b", DRAW: "draw"}
STYLE_FEATURES = ("chars", "lists", "headers", "bold")
FEATURE_FIGURE = {"chars": "longer", "lists": "lists", "headers": "headers", "bold": "bold"}


class JudgmentRow(NamedTuple):
    """One judge call on one battle in one order. `choice` is the *position* the judge chose: "A" (the
    answer shown first), "B" (shown second), "tie", or None when the reply was unparsed or the call failed.
    `cost` in US dollars; `latency_ms` None when unknown."""

    battle: int
    order: str
    choice: str | None
    cost: float = 0.0
    latency_ms: float | None = None


class BattleRow(NamedTuple):
    """What a battle's two answers are like (as the judge saw them) and whose they are."""

    battle: int
    contender_a: int
    contender_b: int
    chars_a: int = 0
    chars_b: int = 0
    lists_a: int = 0
    lists_b: int = 0
    headers_a: int = 0
    headers_b: int = 0
    bold_a: int = 0
    bold_b: int = 0
    own_a: bool = False  # contender A is of the judge's own organization or model family
    own_b: bool = False


class VerdictRow(NamedTuple):
    """The source's final verdict on a battle: "a", "b", "tie" or "both_bad"."""

    battle: int
    outcome: str


class VoteRow(NamedTuple):
    """One person's vote on a battle: "a", "b", "tie" or "both_bad"."""

    battle: int
    voter: str
    outcome: str


class BoardRow(NamedTuple):
    """One contender on a leaderboard (ratings on any one scale; bounds None when absent)."""

    contender: int
    rating: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class ReportRows:
    judgments: Sequence[JudgmentRow] = ()
    battles: Sequence[BattleRow] = ()
    verdicts: Sequence[VerdictRow] = ()
    votes: Sequence[VoteRow] = ()
    judge_board: Sequence[BoardRow] = ()
    people_board: Sequence[BoardRow] = ()


# The plain-number keys of a card, in the order pages and exports show them.
FIGURES = (
    "consistent", "biased_first", "biased_second", "other", "error", "prefer_first",
    "prefer_longer", "people_prefer_longer", "prefer_lists", "people_prefer_lists",
    "prefer_headers", "people_prefer_headers", "prefer_bold", "people_prefer_bold",
    "self_preference", "self_preference_shared", "people_self_preference",
    "agreement", "agreement_no_ties", "kappa",
    "people_agreement", "people_agreement_no_ties", "people_alpha",
    "kendall_tau_b", "spearman_rho", "confident_same",
    "parse_failures_per_1000", "cost_per_1000", "latency_s_per_1000", "latency_ms_mean",
)  # fmt: skip


def report_card(rows: ReportRows, *, rounds: int = 1000, seed: int = 0) -> dict:
    """Every figure of the report card: `{name: value, ..., "figures": {name: {value, n, low, high}},
    "counts": {...}}`. Values are plain floats (shares in [0, 1]) or None where there is no data."""
    rng = np.random.default_rng(seed)
    kw = {"rng": rng, "rounds": rounds}
    figures: dict[str, Figure] = {}
    battles = {b.battle: b for b in rows.battles}
    figures.update(_position(rows.judgments, kw))
    figures.update(_judge_style(rows.judgments, battles, kw))
    figures.update(_people_style(rows.votes, battles, kw))
    majority, counts = _people_labels(rows.votes)
    verdicts = {v.battle: _SIDE[v.outcome] for v in rows.verdicts}
    figures.update(_self_preference(verdicts, rows.votes, battles, kw))
    figures.update(_agreement(verdicts, majority, counts, kw))
    figures.update(_boards(rows.judge_board, rows.people_board))
    figures.update(_spend(rows.judgments))
    card: dict[str, object] = {name: figures[name].value for name in FIGURES}
    card["figures"] = {name: figures[name].as_dict() for name in FIGURES}
    card["counts"] = {
        "judgments": len(rows.judgments),
        "units_both_orders": figures["consistent"].n,
        "verdicts": len(rows.verdicts),
        "votes": len(rows.votes),
        "battles_compared_with_people": figures["agreement"].n,
    }
    card["bootstrap_rounds"] = rounds
    return card


def _position(judgments: Sequence[JudgmentRow], kw) -> dict[str, Figure]:
    by_battle: dict[int, dict[str, int]] = defaultdict(dict)
    for j in judgments:
        by_battle[j.battle][j.order] = _POSITION[j.choice]
    both = [orders for orders in by_battle.values() if SHOWN in orders and SWAPPED in orders]
    shown = np.array([o[SHOWN] for o in both], dtype=int)
    swapped = np.array([o[SWAPPED] for o in both], dtype=int)
    figures = metrics.position_figures(shown, swapped, **kw)
    cluster = np.array([j.battle for j in judgments], dtype=np.int64)
    choice = np.array([_POSITION[j.choice] for j in judgments], dtype=int)
    figures["prefer_first"] = metrics.prefer_first(cluster, choice, **kw)
    return figures


def _judge_style(judgments, battles: dict[int, BattleRow], kw) -> dict[str, Figure]:
    seen = [j for j in judgments if j.battle in battles]
    cluster = np.array([j.battle for j in seen], dtype=np.int64)
    choice = np.array([_POSITION[j.choice] for j in seen], dtype=int)
    out = {}
    for feature in STYLE_FEATURES:
        a = np.array([getattr(battles[j.battle], f"{feature}_a") for j in seen], dtype=float)
        b = np.array([getattr(battles[j.battle], f"{feature}_b") for j in seen], dtype=float)
        shown = np.array([j.order == SHOWN for j in seen], dtype=bool)
        first, second = np.where(shown, a, b), np.where(shown, b, a)
        out[f"prefer_{FEATURE_FIGURE[feature]}"] = metrics.prefer_more(cluster, choice, first, second, **kw)
    return out


def _people_style(votes: Sequence[VoteRow], battles: dict[int, BattleRow], kw) -> dict[str, Figure]:
    seen = [v for v in votes if v.battle in battles]
    cluster = np.array([v.battle for v in seen], dtype=np.int64)
    side = np.array([_SIDE[v.outcome] for v in seen], dtype=int)  # A and B share FIRST/SECOND's codes
    out = {}
    for feature in STYLE_FEATURES:
        a = np.array([getattr(battles[v.battle], f"{feature}_a") for v in seen], dtype=float)
        b = np.array([getattr(battles[v.battle], f"{feature}_b") for v in seen], dtype=float)
        out[f"people_prefer_{FEATURE_FIGURE[feature]}"] = metrics.prefer_more(cluster, side, a, b, **kw)
    return out


def _people_labels(votes: Sequence[VoteRow]) -> tuple[dict[int, int], dict[int, np.ndarray]]:
    counts: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(3, dtype=int))
    for v in votes:
        counts[v.battle][_SIDE[v.outcome]] += 1
    keys = list(counts)
    labels = metrics.strict_majority(np.array([counts[k] for k in keys]).reshape(-1, 3))
    return {k: int(label) for k, label in zip(keys, labels, strict=True)}, dict(counts)


def _own_score(side: int, battle: BattleRow) -> float:
    """The own contender's score in a battle with exactly one own contender (a draw is half a win)."""
    score_a = {metrics.A: 1.0, metrics.B: 0.0, DRAW: 0.5}[side]
    return score_a if battle.own_a else 1.0 - score_a


def _self_preference(verdicts: dict[int, int], votes, battles: dict[int, BattleRow], kw) -> dict[str, Figure]:
    mixed = {k for k, b in battles.items() if b.own_a != b.own_b}
    judged = sorted(k for k in verdicts if k in mixed)
    voted = {v.battle for v in votes}
    shared = [k for k in judged if k in voted]
    judged_set = set(judged)
    people = [v for v in votes if v.battle in judged_set]

    def judge_figure(keys):
        scores = np.array([_own_score(verdicts[k], battles[k]) for k in keys], dtype=float)
        return metrics.share(np.array(keys, dtype=np.int64), scores, **kw)

    people_scores = np.array([_own_score(_SIDE[v.outcome], battles[v.battle]) for v in people], dtype=float)
    return {
        "self_preference": judge_figure(judged),
        "self_preference_shared": judge_figure(shared),
        "people_self_preference": metrics.share(
            np.array([v.battle for v in people], dtype=np.int64), people_scores, **kw
        ),
    }


def _agreement(verdicts: dict[int, int], majority: dict[int, int], counts, kw) -> dict[str, Figure]:
    keys = sorted(k for k in verdicts if majority.get(k, -1) >= 0)
    judge = np.array([verdicts[k] for k in keys], dtype=int)
    people = np.array([majority[k] for k in keys], dtype=int)
    cluster = np.array(keys, dtype=np.int64)
    voted = np.array([counts[k] for k in sorted(counts)]).reshape(-1, 3)
    return {
        "agreement": metrics.agreement(cluster, judge, people, ties=True, **kw),
        "agreement_no_ties": metrics.agreement(cluster, judge, people, ties=False, **kw),
        "kappa": metrics.kappa_figure(judge, people, **kw),
        "people_agreement": metrics.people_pair_agreement(voted, ties=True, **kw),
        "people_agreement_no_ties": metrics.people_pair_agreement(voted, ties=False, **kw),
        "people_alpha": metrics.alpha_figure(voted, **kw),
    }


def _boards(judge: Sequence[BoardRow], people: Sequence[BoardRow]) -> dict[str, Figure]:
    theirs = {r.contender: r for r in people}
    common = sorted(r.contender for r in judge if r.contender in theirs)
    mine = {r.contender: r for r in judge}

    def arrays(board):
        return (
            np.array([board[c].rating for c in common], dtype=float),
            np.array([np.nan if board[c].ci_low is None else board[c].ci_low for c in common], dtype=float),
            np.array([np.nan if board[c].ci_high is None else board[c].ci_high for c in common], dtype=float),
        )

    return metrics.board_agreement(arrays(mine), arrays(theirs))


def _spend(judgments: Sequence[JudgmentRow]) -> dict[str, Figure]:
    parsed = np.array([j.choice is not None for j in judgments], dtype=bool)
    cost = np.array([j.cost for j in judgments], dtype=float)
    latency = np.array([np.nan if j.latency_ms is None else j.latency_ms for j in judgments], dtype=float)
    return metrics.spend_figures(parsed, cost, latency)


@dataclass(frozen=True)
class Disagreement:
    battle: int
    judge: str  # "a", "b" or "draw"
    people: str
    votes: tuple[int, int, int]  # people's votes for A, B and a draw


def disagreements(rows: ReportRows) -> list[Disagreement]:
    """Battles where the source's final verdict differs from the people's strict majority, newest ids first."""
    majority, counts = _people_labels(rows.votes)
    out = []
    for v in rows.verdicts:
        theirs = majority.get(v.battle, -1)
        mine = _SIDE[v.outcome]
        if theirs >= 0 and mine != theirs:
            c = counts[v.battle]
            out.append(
                Disagreement(
                    v.battle, SIDE_NAMES[mine], SIDE_NAMES[theirs], (int(c[0]), int(c[1]), int(c[2]))
                )
            )
    return sorted(out, key=lambda d: -d.battle)
