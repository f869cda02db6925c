"""One contender across dimensions and sources, its record against each opponent, comparisons of two, and
example battles. Head-to-head records come from the stored matrices; nothing is fitted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q

from arena.blindness import battles_blind_q, may_see_blind
from arena.errors import Invalid, NotFound
from arena.models import Battle, Contender, Dimension, Verdict
from leaderboard.board_query import BoardQuery
from leaderboard.models import RecomputeRun, Snapshot, SnapshotRow
from leaderboard.selectors.board import ContenderRow, SourceChoice, dimensions_shown, row_view, sources_in
from leaderboard.selectors.standing import standings_apply


def contender_public_or_404(slug: str) -> Contender:
    contender = Contender.objects.filter(slug=slug, status=Contender.Status.APPROVED).first()
    if contender is None:
        raise NotFound(f"No approved contender {slug!r} on the leaderboard.")
    return contender


@dataclass(frozen=True)
class RatingCell:
    source: SourceChoice
    row: ContenderRow | None
    snapshot: Snapshot | None


def contender_ratings(
    run: RecomputeRun | None, contender: Contender, category: str
) -> list[tuple[Dimension, list[RatingCell]]]:
    """The contender's row on every dimension × source of `run` (None where it has none)."""
    sources = sources_in(run)
    snapshots = (
        {(s.dimension_id, s.source_key): s for s in Snapshot.objects.filter(run=run, category=category)}
        if run
        else {}
    )
    # Standing and rank depend on the whole leaderboard, so every approved row of each snapshot is read.
    rows = SnapshotRow.objects.filter(
        snapshot__in=snapshots.values(), contender__status=Contender.Status.APPROVED
    ).select_related("contender")
    boards: dict[int, list[ContenderRow]] = defaultdict(list)
    for r in rows.order_by("snapshot_id", "position"):
        boards[r.snapshot_id].append(row_view(r))
    by_snapshot = {
        snapshot_id: row
        for snapshot_id, board in boards.items()
        for row in standings_apply(board)
        if row.contender_id == contender.pk
    }
    table = []
    for dimension in dimensions_shown():
        cells = []
        for source in sources:
            snapshot = snapshots.get((dimension.pk, source.key))
            cells.append(RatingCell(source, by_snapshot.get(snapshot.pk) if snapshot else None, snapshot))
        table.append((dimension, cells))
    return table


@dataclass(frozen=True)
class HeadToHead:
    opponent: Contender
    verdicts: float
    wins: float
    ties: float
    losses: float

    @property
    def score(self) -> float | None:
        return (self.wins + 0.5 * self.ties) / self.verdicts if self.verdicts else None


def head_to_head(snapshot: Snapshot | None, contender: Contender) -> list[HeadToHead]:
    """The contender's record against each approved opponent on `snapshot`, most verdicts first."""
    if snapshot is None or contender.pk not in snapshot.contender_ids:
        return []
    ids = snapshot.contender_ids
    i = ids.index(contender.pk)
    opponents = Contender.objects.in_bulk([c for c in ids if c != contender.pk])
    records = []
    for j, opponent_id in enumerate(ids):
        opponent = opponents.get(opponent_id)
        if (
            opponent is None
            or opponent.status != Contender.Status.APPROVED
            or not snapshot.battle_count[i][j]
        ):
            continue
        wins, losses, ties = snapshot.wins[i][j], snapshot.wins[j][i], snapshot.ties[i][j]
        records.append(HeadToHead(opponent, snapshot.battle_count[i][j], wins, ties, losses))
    return sorted(records, key=lambda r: (-r.verdicts, r.opponent.name))


OUTCOME_LABELS = {"a": "A better", "b": "B better", "tie": "tie", "both_bad": "both bad"}


@dataclass(frozen=True)
class BattleExample:
    battle: Battle
    tallies: dict[str, dict[str, int]]  # source name → outcome → verdicts


def _battles_judged(contender: Contender, opponent: Contender | None):
    involved = Q(contender_a=contender) | Q(contender_b=contender)
    battles = Battle.objects.filter(involved, verdicts__excluded=False)
    if opponent is not None:
        battles = battles.filter(Q(contender_a=opponent) | Q(contender_b=opponent))
    return battles.filter(contender_a__status="approved", contender_b__status="approved").distinct()


def battles_example(
    contender: Contender, *, opponent: Contender | None = None, limit: int = 5, user=None
) -> list[BattleExample]:
    """Recent battles of the contender (against `opponent` if given) that have counted verdicts.

    Battles with an answer an open annotation task may serve are shown to staff only (arena.blindness):
    with names beside it, one published example would unblind that answer in every battle serving it.
    """
    battles = _battles_judged(contender, opponent)
    if not may_see_blind(user):
        battles = battles.exclude(battles_blind_q())
    chosen = list(
        battles.select_related("prompt", "output_a", "output_b", "contender_a", "contender_b").order_by(
            "-pk"
        )[:limit]
    )
    verdicts = Verdict.objects.filter(
        battle__in=chosen, excluded=False, dimension__slug="overall"
    ).select_related("source")
    tallies: dict[int, dict[str, dict[str, int]]] = {b.pk: {} for b in chosen}
    for v in verdicts:
        label = OUTCOME_LABELS[v.outcome or ("a" if v.score > 0.5 else "b" if v.score < 0.5 else "tie")]
        per_source = tallies[v.battle_id].setdefault(v.source.name, {})
        per_source[label] = per_source.get(label, 0) + 1
    return [BattleExample(b, tallies[b.pk]) for b in chosen]


def battles_example_withheld(contender: Contender, *, opponent: Contender | None = None, user=None) -> bool:
    """Whether judged battles exist that `battles_example` keeps from this user until their task closes."""
    if may_see_blind(user):
        return False
    return _battles_judged(contender, opponent).filter(battles_blind_q()).exists()


def contenders_public():
    return Contender.objects.filter(status=Contender.Status.APPROVED).order_by("name")


def contender_pair_or_error(first: str | None, second: str | None) -> tuple[Contender, Contender]:
    """The two approved contenders `?a=<slug>&b=<slug>` names (400 if missing or equal, 404 if unknown)."""
    if not first or not second:
        raise Invalid(
            "Choose two contenders to compare: ?a=<slug>&b=<slug>.", field="a" if not first else "b"
        )
    if first == second:
        raise Invalid(f"Choose two different contenders; both are {first!r}.", field="b")
    return contender_public_or_404(first), contender_public_or_404(second)


@dataclass(frozen=True)
class ComparisonLine:
    """Two contenders on one dimension: their rows, the chance the first wins under the fitted ratings,
    and the first's head-to-head record against the second."""

    dimension: Dimension
    first: ContenderRow | None
    second: ContenderRow | None
    record: HeadToHead | None

    @property
    def first_win_probability(self) -> float | None:
        if self.first is None or self.second is None:
            return None
        return 1.0 / (1.0 + 10.0 ** ((self.second.rating - self.first.rating) / 400.0))


def compare_get(query: BoardQuery, first: Contender, second: Contender) -> list[ComparisonLine]:
    snapshots = (
        {
            s.dimension_id: s
            for s in Snapshot.objects.filter(
                run=query.run, category=query.category, source_key=query.source_key
            )
        }
        if query.run
        else {}
    )
    rows = SnapshotRow.objects.filter(snapshot__in=snapshots.values(), contender__in=[first, second])
    by_key = {(r.snapshot_id, r.contender_id): row_view(r) for r in rows.select_related("contender")}
    lines = []
    for dimension in dimensions_shown():
        snapshot = snapshots.get(dimension.pk)
        pk = snapshot.pk if snapshot else None
        record = next((r for r in head_to_head(snapshot, first) if r.opponent.pk == second.pk), None)
        lines.append(
            ComparisonLine(dimension, by_key.get((pk, first.pk)), by_key.get((pk, second.pk)), record)
        )
    return lines
