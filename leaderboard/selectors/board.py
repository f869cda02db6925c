"""Leaderboards as stored: a snapshot's rows (approved contenders only), sorted and filtered, and the choices
the page offers (dimensions, sources, categories, runs), matrices and per-dimension profiles."""

from __future__ import annotations

from dataclasses import dataclass, field

from arena.models import Contender, Dimension
from leaderboard.board_query import BoardQuery, run_baseline, runs_finished
from leaderboard.models import ALL_CATEGORIES, RecomputeRun, Snapshot, SnapshotRow
from leaderboard.selectors.standing import INCOMPLETE, changes_apply, standings_apply


@dataclass(frozen=True)
class ContenderRow:
    """One contender on a leaderboard, as shown and exported. Win rate is a fraction in [0, 1]."""

    contender_id: int
    slug: str
    name: str
    organization: str
    license: str
    position: int
    rating: float
    ci_low: float | None
    ci_high: float | None
    rank_ub: int
    votes: int
    average_win_rate: float | None
    style_rating: float | None
    style_ci_low: float | None
    style_ci_high: float | None
    style_rank_ub: int | None
    prompts_answered: int | None = None
    prompts_total: int | None = None
    # Set by `leaderboard.selectors.standing`: "ranked", "provisional" or "incomplete"; the rank among the
    # ranked rows (None for the others); the change since the baseline run (None: not on it, or unranked).
    standing: str = "ranked"
    rank: int | None = None
    rating_change: float | None = None
    rank_change: int | None = None
    is_new: bool = False
    # Judge and jury boards calibrated by people (None elsewhere), shown beside the raw rating.
    calibrated_rating: float | None = None
    calibrated_ci_low: float | None = None
    calibrated_ci_high: float | None = None

    @property
    def provisional(self) -> bool:
        return self.standing == "provisional"

    @property
    def interval_width(self) -> float | None:
        return None if self.ci_low is None or self.ci_high is None else self.ci_high - self.ci_low

    def export(self) -> dict:
        """The exported fields, in column order (CSV header, JSON keys, API schema)."""
        return {
            "rank": self.rank,
            "standing": self.standing,
            "rank_ub": self.rank_ub,
            "contender": self.slug,
            "name": self.name,
            "rating": self.rating,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "style_rating": self.style_rating,
            "style_ci_low": self.style_ci_low,
            "style_ci_high": self.style_ci_high,
            "style_rank_ub": self.style_rank_ub,
            "average_win_rate": self.average_win_rate,
            "votes": self.votes,
            "prompts_answered": self.prompts_answered,
            "prompts_total": self.prompts_total,
            "rating_change": self.rating_change,
            "rank_change": self.rank_change,
            "organization": self.organization,
            "license": self.license,
            "calibrated_rating": self.calibrated_rating,
            "calibrated_ci_low": self.calibrated_ci_low,
            "calibrated_ci_high": self.calibrated_ci_high,
        }


@dataclass(frozen=True)
class Board:
    """A leaderboard as requested: its snapshot (None if there is none), the rows to show (ranked and
    provisional ones), and why the rows are empty when they are (`message`). `hidden` counts contenders
    left out by the min_votes threshold; `incomplete` holds those that answered too few of the prompts
    (never ranked); `baseline` is the run the Δ column compares with (None: no earlier run)."""

    query: BoardQuery
    snapshot: Snapshot | None
    rows: list[ContenderRow]
    message: str = ""
    hidden: int = 0
    all_rows: list[ContenderRow] = field(default_factory=list)
    incomplete: list[ContenderRow] = field(default_factory=list)
    baseline: RecomputeRun | None = None

    @property
    def n_provisional(self) -> int:
        return sum(row.standing == "provisional" for row in self.rows)


# Contenders² numbers each, as JSON: 160,000 numbers to decode at 200 contenders, which a page showing the
# table and cached charts never reads. Deferred fields still load (one query each) if something asks for them.
MATRIX_FIELDS = ("wins", "ties", "win_fraction", "battle_count")


def snapshot_find(
    run: RecomputeRun | None, *, dimension_id: int, category: str, source_key: str, matrices: bool = True
) -> Snapshot | None:
    """The snapshot of `run` for that board, or None; `matrices=False` leaves the matrices unread until used."""
    if run is None:
        return None
    snapshots = Snapshot.objects.filter(
        run=run, dimension_id=dimension_id, category=category, source_key=source_key
    ).select_related("dimension")
    if not matrices:
        snapshots = snapshots.defer(*MATRIX_FIELDS)
    return snapshots.first()


def snapshot_rows(snapshot: Snapshot) -> list[ContenderRow]:
    """The snapshot's rows of approved contenders, best rating first."""
    rows = (
        SnapshotRow.objects.filter(snapshot=snapshot, contender__status=Contender.Status.APPROVED)
        .select_related("contender")
        .order_by("position")
    )
    return [row_view(row) for row in rows]


def row_view(row: SnapshotRow) -> ContenderRow:
    c = row.contender
    return ContenderRow(
        contender_id=c.pk,
        slug=c.slug,
        name=c.name,
        organization=c.organization,
        license=c.license,
        position=row.position,
        rating=row.rating,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        rank_ub=row.rank_ub,
        votes=row.n_verdicts,
        average_win_rate=row.average_win_rate,
        style_rating=row.style_rating,
        style_ci_low=row.style_ci_low,
        style_ci_high=row.style_ci_high,
        style_rank_ub=row.style_rank_ub,
        prompts_answered=row.prompts_answered,
        prompts_total=row.prompts_total,
        calibrated_rating=row.calibrated_rating,
        calibrated_ci_low=row.calibrated_ci_low,
        calibrated_ci_high=row.calibrated_ci_high,
    )


_SORT_VALUES = {
    # Ranked rows by rank, then the provisional ones by rating (they have no rank).
    "rank": lambda r: (r.rank is None, r.rank or 0, -r.rating),
    "rating": lambda r: r.rating,
    "style": lambda r: r.style_rating,
    "winrate": lambda r: r.average_win_rate,
    "votes": lambda r: r.votes,
    "name": lambda r: r.name.lower(),
    "org": lambda r: r.organization.lower() or None,
    "license": lambda r: r.license.lower() or None,
}


def rows_sorted(rows: list[ContenderRow], sort: str) -> list[ContenderRow]:
    """Ascending by `sort` (see `leaderboard.board_query.SORT_KEYS`), descending with a leading "-"; rows without
    a value always last; equal values keep the rating order."""
    value = _SORT_VALUES[sort.lstrip("-")]
    present = sorted((r for r in rows if value(r) is not None), key=lambda r: r.position)
    present.sort(key=value, reverse=sort.startswith("-"))
    missing = sorted((r for r in rows if value(r) is None), key=lambda r: r.position)
    return present + missing


def board_get(query: BoardQuery) -> Board:
    """The leaderboard `query` asks for, ready to show or export."""
    if query.run is None:
        return Board(query, None, [], "No leaderboard has been computed yet.")
    snapshot = snapshot_find(
        query.run,
        dimension_id=query.dimension.pk,
        category=query.category,
        source_key=query.source_key,
        matrices=False,
    )
    if snapshot is None:
        what = f"{query.source_key} on {query.dimension.name}" + (
            f" in {query.category}" if query.category else ""
        )
        return Board(query, None, [], f"No verdicts from {what} in this run.")
    if snapshot.status == Snapshot.Status.FAILED:
        return Board(query, snapshot, [], snapshot.message)
    every = standings_apply(snapshot_rows(snapshot))
    baseline = run_baseline(query)
    if baseline is not None:
        every = changes_apply(every, _baseline_rows(baseline, snapshot))
    complete = [row for row in every if row.standing != INCOMPLETE]
    shown = [row for row in complete if row.votes >= query.min_votes]
    message = "" if shown else f"No contender has {query.min_votes} votes or more here."
    if not complete:
        message = "No contender answered enough of the prompts to be ranked here (see the list below)."
    incomplete = [row for row in every if row.standing == INCOMPLETE]
    return Board(
        query,
        snapshot,
        rows_sorted(shown, query.sort),
        message,
        len(complete) - len(shown),
        every,
        incomplete,
        baseline,
    )


def _baseline_rows(baseline: RecomputeRun, snapshot: Snapshot) -> list[ContenderRow]:
    earlier = snapshot_find(
        baseline,
        dimension_id=snapshot.dimension_id,
        category=snapshot.category,
        source_key=snapshot.source_key,
    )
    if earlier is None or earlier.status != Snapshot.Status.OK:
        return []
    return standings_apply(snapshot_rows(earlier))


@dataclass(frozen=True)
class SourceChoice:
    key: str
    name: str
    kind: str


def dimensions_shown() -> list[Dimension]:
    return list(Dimension.objects.filter(is_active=True))


def sources_in(run: RecomputeRun | None) -> list[SourceChoice]:
    """Sources with a leaderboard in `run`: people first, then judges, juries, the judges' pool, imports."""
    if run is None:
        return []
    seen = (
        Snapshot.objects.filter(run=run, category=ALL_CATEGORIES)
        .values_list("source_key", "source_name", "source_kind")
        .distinct()
    )
    order = {"human": 0, "judge": 1, "jury": 2, "judges": 3, "import": 4}
    choices = {key: SourceChoice(key, name, kind) for key, name, kind in seen}
    return sorted(choices.values(), key=lambda c: (order.get(c.kind, 9), c.name.lower()))


def categories_in(run: RecomputeRun | None) -> list[str]:
    if run is None:
        return []
    names = (
        Snapshot.objects.filter(run=run).exclude(category=ALL_CATEGORIES).values_list("category", flat=True)
    )
    return sorted(set(names))


def runs_recent(limit: int = 30) -> list[RecomputeRun]:
    return list(runs_finished()[:limit])


def dimensions_with_data(run: RecomputeRun | None, source_key: str, category: str) -> set[int]:
    """Ids of the dimensions with a leaderboard (fitted or not) for this source and category in `run`."""
    if run is None:
        return set()
    return set(
        Snapshot.objects.filter(run=run, source_key=source_key, category=category).values_list(
            "dimension_id", flat=True
        )
    )


def run_running() -> RecomputeRun | None:
    return RecomputeRun.objects.filter(status=RecomputeRun.Status.RUNNING).order_by("-started").first()


def matrix_for(snapshot: Snapshot, rows: list[ContenderRow], name: str) -> list[list[float | None]]:
    """Stored matrix `name` ("win_fraction" or "battle_count") restricted to `rows`, in their order."""
    stored = getattr(snapshot, name)
    index = {cid: i for i, cid in enumerate(snapshot.contender_ids)}
    positions = [index[row.contender_id] for row in rows if row.contender_id in index]
    return [[stored[i][j] for j in positions] for i in positions]


@dataclass(frozen=True)
class ProfilePoint:
    dimension: Dimension
    row: ContenderRow | None


def profile_get(query: BoardQuery, slugs: tuple[str, ...]) -> dict[str, list[ProfilePoint]]:
    """For each contender slug: its row on every shown dimension (same run, source and category)."""
    dimensions = dimensions_shown()
    # Ids only: a snapshot's JSON matrices (contenders² numbers each) are not needed for a profile.
    dimension_of = dict(
        Snapshot.objects.filter(
            run=query.run, category=query.category, source_key=query.source_key, status=Snapshot.Status.OK
        ).values_list("pk", "dimension_id")
    )
    rows = SnapshotRow.objects.filter(snapshot_id__in=dimension_of, contender__slug__in=slugs)
    by_key = {
        (dimension_of[r.snapshot_id], r.contender.slug): row_view(r) for r in rows.select_related("contender")
    }
    return {slug: [ProfilePoint(d, by_key.get((d.pk, slug))) for d in dimensions] for slug in slugs}
