"""LLM judges against people: how often a judge's verdict equals the people's majority on the same battle.

Compared per battle × dimension where both judged, with labels on the rating scale — A better, B better,
or a draw (tie and both-bad are one label, as they score the same). The people's label is the strict
majority of their hard verdicts; with no strict majority (say one A and one B vote) the battle × dimension
is left out rather than guessed. Soft verdicts have no label and are left out too. Only verdicts ratings
count take part (not excluded, approved contenders, active dimensions).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from arena.models import Source
from leaderboard.services.aggregation import verdicts_counted

DRAW = "draw"
# Judges and juries (several judges combined) are compared with people alike.
JUDGING_KINDS = (Source.Kind.JUDGE, Source.Kind.JURY)
LABEL = {"a": "a", "b": "b", "tie": DRAW, "both_bad": DRAW}


@dataclass(frozen=True)
class Agreement:
    source_id: int
    dimension_id: int
    n_compared: int
    n_agreed: int


def people_majorities() -> dict[tuple[int, int], str | None]:
    """(battle, dimension) → the people's strict-majority label (None without one), on battles a judge judged."""
    judged = verdicts_counted().filter(source__kind__in=JUDGING_KINDS).values("battle_id")
    votes = (
        verdicts_counted()
        .filter(source__kind=Source.Kind.HUMAN, outcome__isnull=False, battle_id__in=judged)
        .values_list("battle_id", "dimension_id", "outcome")
        .order_by()
    )
    tallies: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for battle_id, dimension_id, outcome in votes.iterator(chunk_size=20_000):
        tallies[battle_id, dimension_id][LABEL[outcome]] += 1
    return {key: _strict_majority(tally) for key, tally in tallies.items()}


def _strict_majority(tally: Counter) -> str | None:
    (first, n_first), *rest = tally.most_common(2)
    return first if not rest or n_first > rest[0][1] else None


def judge_agreements_compute() -> list[Agreement]:
    """Agreement of each judge source with the people, per dimension; judges with no overlap are absent."""
    if not verdicts_counted().filter(source__kind__in=JUDGING_KINDS).exists():
        return []  # spares scanning every human vote when no judge has spoken yet
    majorities = people_majorities()
    if not majorities:
        return []
    verdicts = (
        verdicts_counted()
        .filter(source__kind__in=JUDGING_KINDS, outcome__isnull=False)
        .values_list("source_id", "battle_id", "dimension_id", "outcome")
        .order_by()
    )
    compared: Counter = Counter()
    agreed: Counter = Counter()
    for source_id, battle_id, dimension_id, outcome in verdicts.iterator(chunk_size=20_000):
        majority = majorities.get((battle_id, dimension_id))
        if majority is None:
            continue
        compared[source_id, dimension_id] += 1
        agreed[source_id, dimension_id] += LABEL[outcome] == majority
    return [Agreement(s, d, n, agreed[s, d]) for (s, d), n in sorted(compared.items())]
