"""What a leaderboard request asks for, read and checked from the query string (pages, exports and API alike).

Every bad value is an `Invalid` naming the parameter, the value and the choices (400), except a run that
does not exist (404). Values that are valid but have no data (a source with no verdicts yet on a dimension)
are not errors: the page says there is nothing to show.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from arena.errors import Invalid, NotFound
from arena.models import Contender, Dimension, Prompt, Source
from leaderboard.models import ALL_CATEGORIES, JUDGES_KEY, RecomputeRun, Snapshot

# Sort keys: ascending by the column's value, descending with a leading "-" (as Django's order_by).
SORT_KEYS = ("rank", "rating", "style", "winrate", "votes", "name", "org", "license")
# Columns whose first click sorts high to low (best first).
DESCENDING_FIRST = {"rating", "style", "winrate", "votes"}
DEFAULT_SORT = "rank"
DEFAULT_DIMENSION = "overall"
DEFAULT_SOURCE = "people"
MAX_PROFILE = 6


@dataclass(frozen=True)
class BoardQuery:
    run: RecomputeRun | None
    dimension: Dimension
    category: str
    source_key: str
    min_votes: int
    sort: str
    profile: tuple[str, ...] = ()
    explicit_run: bool = False
    # The Δ column compares with the last run finished on or before this day (None: the previous run).
    since: datetime.date | None = None

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def sort_reversed(self) -> bool:
        return self.sort.startswith("-")

    def params(self, **changes) -> dict:
        """The query-string state (defaults left out), with `changes` applied."""
        query = replace(self, **changes) if changes else self
        params = {
            "dimension": query.dimension.slug,
            "category": query.category,
            "source": query.source_key,
            "min_votes": query.min_votes or "",
            "sort": "" if query.sort == DEFAULT_SORT else query.sort,
            "run": query.run.pk if query.explicit_run and query.run else "",
            "since": query.since.isoformat() if query.since else "",
        }
        items = [(k, v) for k, v in params.items() if v != ""]
        return dict(items) | ({"profile": list(query.profile)} if query.profile else {})

    def querystring(self, **changes) -> str:
        return "?" + urlencode(self.params(**changes), doseq=True)

    def sort_link(self, key: str) -> str:
        """Sort by `key` (numbers high to low first); clicking the current sort column reverses it."""
        if self.sort_key == key:
            sort = key if self.sort_reversed else "-" + key
        else:
            sort = "-" + key if key in DESCENDING_FIRST else key
        return self.querystring(sort=sort)


def board_query_parse(params: Mapping) -> BoardQuery:
    """Read `dimension`, `category`, `source`, `min_votes`, `sort`, `run`, `since` and `profile` (repeated)."""
    run, explicit = _run(params.get("run"))
    since = _since(params.get("since") or None, run)
    return BoardQuery(
        run=run,
        dimension=_dimension(params.get("dimension") or None),
        category=_category(params.get("category") or ALL_CATEGORIES),
        source_key=_source(params.get("source") or None, run),
        min_votes=_min_votes(params.get("min_votes")),
        sort=_sort(params.get("sort") or DEFAULT_SORT),
        profile=_profile(_list(params, "profile")),
        explicit_run=explicit,
        since=since,
    )


def _list(params: Mapping, name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    values = getlist(name) if getlist else params.get(name) or []
    return [values] if isinstance(values, str) else [v for v in values if v]


def runs_finished():
    return RecomputeRun.objects.filter(status=RecomputeRun.Status.DONE).order_by("-finished", "-pk")


def _run(value) -> tuple[RecomputeRun | None, bool]:
    if value in (None, ""):
        return runs_finished().first(), False
    try:
        run_id = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"run must be a run number, e.g. run=12, not {value!r}.", field="run") from None
    run = runs_finished().filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No finished leaderboard run #{run_id}; leave run out for the latest one.")
    return run, True


def _since(value: str | None, run: RecomputeRun | None) -> datetime.date | None:
    if value is None:
        return None
    try:
        day = datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(
            f"since must be a date written YYYY-MM-DD, e.g. since=2026-01-31, not {value!r}.", field="since"
        ) from None
    if run is not None and _run_on_or_before(day, run) is None:
        oldest = runs_finished().last()
        raise Invalid(
            f"No earlier leaderboard run finished on or before {day.isoformat()} (the oldest kept run is from "
            f"{oldest.finished:%Y-%m-%d}); choose a later date, or leave since out to compare with the "
            "previous run.",
            field="since",
        )
    return day


def _run_on_or_before(day: datetime.date, run: RecomputeRun) -> RecomputeRun | None:
    return (
        runs_finished().filter(finished__date__lte=day, finished__lt=run.finished).exclude(pk=run.pk).first()
    )


def run_baseline(query: BoardQuery) -> RecomputeRun | None:
    """The run the Δ column compares with: the last one on or before `since`, else the one before `run`."""
    if query.run is None:
        return None
    if query.since is not None:
        return _run_on_or_before(query.since, query.run)
    return runs_finished().filter(finished__lt=query.run.finished).exclude(pk=query.run.pk).first()


def _dimension(slug: str | None) -> Dimension:
    dimensions = list(Dimension.objects.all())
    if not dimensions:
        raise NotFound("No dimensions are defined; run the migrations first.")
    if slug is None:
        active = [d for d in dimensions if d.is_active] or dimensions
        return next((d for d in active if d.slug == DEFAULT_DIMENSION), active[0])
    found = next((d for d in dimensions if d.slug == slug), None)
    if found is None:
        choices = ", ".join(d.slug for d in dimensions if d.is_active)
        raise Invalid(f"Unknown dimension {slug!r}: choose one of {choices}.", field="dimension")
    return found


def _category(name: str) -> str:
    if name == ALL_CATEGORIES or Prompt.objects.filter(category=name).exists():
        return name
    known = sorted(set(Prompt.objects.exclude(category="").values_list("category", flat=True)))
    choices = ", ".join(known) if known else "none exist yet"
    raise Invalid(
        f"Unknown category {name!r}: leave it empty for all categories, or choose one of: {choices}.",
        field="category",
    )


def _source(key: str | None, run: RecomputeRun | None) -> str:
    if key is None:
        return _default_source(run)
    if key == JUDGES_KEY or Source.objects.filter(key=key).exists():
        return key
    known = ", ".join([JUDGES_KEY, *Source.objects.exclude(key=JUDGES_KEY).values_list("key", flat=True)])
    raise Invalid(f"Unknown source {key!r}: choose one of {known}.", field="source")


def _default_source(run: RecomputeRun | None) -> str:
    """The people if they have a leaderboard in the run, else the first source that has one."""
    if run is None:
        return DEFAULT_SOURCE
    keys = list(
        Snapshot.objects.filter(run=run, category=ALL_CATEGORIES)
        .order_by("source_kind", "source_key")
        .values_list("source_key", "source_kind")
        .distinct()
    )
    people = [key for key, kind in keys if kind == Source.Kind.HUMAN]
    if DEFAULT_SOURCE in people:
        return DEFAULT_SOURCE
    return (people or [key for key, _ in keys] or [DEFAULT_SOURCE])[0]


def _min_votes(value) -> int:
    if value in (None, ""):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < 0:
        raise Invalid(f"min_votes must be a whole number, 0 or more, not {value!r}.", field="min_votes")
    return number


def _sort(value: str) -> str:
    if value.lstrip("-") not in SORT_KEYS or value.startswith("--"):
        raise Invalid(
            f"Unknown sort {value!r}: use one of {', '.join(SORT_KEYS)}, with a leading '-' for descending.",
            field="sort",
        )
    return value


def _profile(slugs: list[str]) -> tuple[str, ...]:
    if len(slugs) > MAX_PROFILE:
        raise Invalid(f"profile takes at most {MAX_PROFILE} contenders, got {len(slugs)}.", field="profile")
    approved = set(
        Contender.objects.filter(slug__in=slugs, status=Contender.Status.APPROVED).values_list(
            "slug", flat=True
        )
    )
    unknown = [slug for slug in slugs if slug not in approved]
    if unknown:
        raise Invalid(f"Unknown contender {unknown[0]!r} in profile.", field="profile")
    return tuple(dict.fromkeys(slugs))
