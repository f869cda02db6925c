"""Leaderboard read API under /api/leaderboard/ (plus a staff-only recompute). Same data as the pages.

Bad parameters answer 400 with `{"error": ..., "field": ...}` (unknown dimension, source or category, a
negative min_votes, an unknown sort); a missing run or contender answers 404. Nothing is fitted here.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from arena.api.auth import token_auth, user_of
from arena.api.errors import ErrorOut
from arena.blindness import may_see_blind
from arena.staff import staff_check
from leaderboard import selectors
from leaderboard.board_query import board_query_parse
from leaderboard.services.battle_export import battle_export_parse
from leaderboard.services.coalescing import recompute_request
from leaderboard.services.exports import board_payload
from leaderboard.views import battles_download

router = Router(tags=["leaderboard"])


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class BoardParams(Schema):
    dimension: str = ""
    category: str = ""
    source: str = ""
    min_votes: str = ""
    sort: str = ""
    run: str = ""
    since: str = ""


class RowOut(Schema):
    rank: int | None
    standing: str
    rank_ub: int
    contender: str
    name: str
    rating: float
    ci_low: float | None
    ci_high: float | None
    style_rating: float | None
    style_ci_low: float | None
    style_ci_high: float | None
    style_rank_ub: int | None
    average_win_rate: float | None
    votes: int
    prompts_answered: int | None
    prompts_total: int | None
    rating_change: float | None
    rank_change: int | None
    organization: str
    license: str
    calibrated_rating: float | None = Field(
        None, description="Judge and jury boards: the rating corrected by people's votes (null elsewhere)."
    )
    calibrated_ci_low: float | None = None
    calibrated_ci_high: float | None = None


class RunOut(Schema):
    id: int
    finished: datetime | None
    trigger: str


class BoardOut(Schema):
    run: RunOut | None
    dimension: str
    category: str
    source: str
    min_votes: int
    sort: str
    status: str | None
    message: str
    method: str | None
    params: dict
    n_verdicts: int
    n_labelled: int = Field(0, description="Battles judged by both this judge and people that calibrate it.")
    calibration_message: str = ""
    computed: datetime | None
    hidden_below_min_votes: int
    rows: list[RowOut]


def _params(params: BoardParams, **extra) -> dict:
    return {k: v for k, v in params.dict().items() if v} | extra


@router.get("/", response={200: BoardOut, **ERRORS}, summary="One leaderboard (same rows as the page)")
def leaderboard(request: HttpRequest, params: Query[BoardParams]):
    """`dimension` (default overall), `source` (a source key or `judges`; default the people), `category`
    (empty: all), `min_votes`, `sort` (rank, rating, style, winrate, votes, name, org, license; ascending, `-` for descending),
    `run` (a past run's id; default the latest)."""
    return board_payload(selectors.board_get(board_query_parse(_params(params))))


class SourceOut(Schema):
    key: str
    name: str
    kind: str


class OptionsOut(Schema):
    run: RunOut | None
    dimensions: list[str]
    sources: list[SourceOut]
    categories: list[str]
    runs: list[RunOut]


def _run_out(run) -> dict | None:
    return None if run is None else {"id": run.pk, "finished": run.finished, "trigger": run.trigger}


@router.get("/options", response={200: OptionsOut, **ERRORS}, summary="Dimensions, sources, categories, runs")
def options(request: HttpRequest, run: str = ""):
    query = board_query_parse({"run": run})
    return {
        "run": _run_out(query.run),
        "dimensions": [d.slug for d in selectors.dimensions_shown()],
        "sources": [s.__dict__ for s in selectors.sources_in(query.run)],
        "categories": selectors.categories_in(query.run),
        "runs": [_run_out(r) for r in selectors.runs_recent()],
    }


class AgreementOut(Schema):
    source: str
    name: str
    dimension: str
    agreement: float | None
    compared: int
    agreement_all_dimensions: float | None
    compared_all_dimensions: int


@router.get(
    "/judges-vs-people", response={200: list[AgreementOut], **ERRORS}, summary="Judges' agreement with people"
)
def judges_vs_people(request: HttpRequest, dimension: str = "", run: str = ""):
    query = board_query_parse({"dimension": dimension, "run": run})
    return [
        {
            "source": a.source_key,
            "name": a.name,
            "dimension": query.dimension.slug,
            "agreement": a.fraction,
            "compared": a.compared,
            "agreement_all_dimensions": a.fraction_all,
            "compared_all_dimensions": a.compared_all,
        }
        for a in selectors.agreement_table(query.run, query.dimension, query.category)
    ]


class RatingOut(Schema):
    dimension: str
    source: str
    status: str | None
    rating: float | None
    ci_low: float | None
    ci_high: float | None
    rank: int | None
    standing: str | None
    rank_ub: int | None
    votes: int | None


class RecordOut(Schema):
    opponent: str
    verdicts: float
    wins: float
    ties: float
    losses: float


class ContenderRatingsOut(Schema):
    contender: str
    name: str
    run: RunOut | None
    ratings: list[RatingOut]
    head_to_head: list[RecordOut]


@router.get(
    "/contenders/{slug}",
    response={200: ContenderRatingsOut, **ERRORS},
    summary="A contender's ratings and record",
)
def contender(request: HttpRequest, slug: str, params: Query[BoardParams]):
    """Ratings on every dimension × source of the run; the head-to-head record for `dimension` and `source`."""
    found = selectors.contender_public_or_404(slug)
    query = board_query_parse(_params(params))
    ratings = [
        {
            "dimension": dimension.slug,
            "source": cell.source.key,
            "status": cell.snapshot.status if cell.snapshot else None,
            "rating": cell.row.rating if cell.row else None,
            "ci_low": cell.row.ci_low if cell.row else None,
            "ci_high": cell.row.ci_high if cell.row else None,
            "rank": cell.row.rank if cell.row else None,
            "standing": cell.row.standing if cell.row else None,
            "rank_ub": cell.row.rank_ub if cell.row else None,
            "votes": cell.row.votes if cell.row else None,
        }
        for dimension, cells in selectors.contender_ratings(query.run, found, query.category)
        for cell in cells
    ]
    snapshot = selectors.snapshot_find(
        query.run, dimension_id=query.dimension.pk, category=query.category, source_key=query.source_key
    )
    records = [
        {
            "opponent": r.opponent.slug,
            "verdicts": r.verdicts,
            "wins": r.wins,
            "ties": r.ties,
            "losses": r.losses,
        }
        for r in selectors.head_to_head(snapshot, found)
    ]
    return {
        "contender": found.slug,
        "name": found.name,
        "run": _run_out(query.run),
        "ratings": ratings,
        "head_to_head": records,
    }


class ComparisonOut(Schema):
    dimension: str
    a_rating: float | None
    b_rating: float | None
    a_win_probability: float | None
    a_wins: float | None
    ties: float | None
    b_wins: float | None


@router.get("/compare", response={200: list[ComparisonOut], **ERRORS}, summary="Two contenders side by side")
def compare(request: HttpRequest, params: Query[BoardParams], a: str = "", b: str = ""):
    first, second = selectors.contender_pair_or_error(a, b)
    query = board_query_parse(_params(params))
    return [
        {
            "dimension": line.dimension.slug,
            "a_rating": line.first.rating if line.first else None,
            "b_rating": line.second.rating if line.second else None,
            "a_win_probability": line.first_win_probability,
            "a_wins": line.record.wins if line.record else None,
            "ties": line.record.ties if line.record else None,
            "b_wins": line.record.losses if line.record else None,
        }
        for line in selectors.compare_get(query, first, second)
    ]


class RecomputeOut(Schema):
    status: str


@router.post(
    "/recompute", response={202: RecomputeOut, **ERRORS}, auth=token_auth, summary="Recompute (staff)"
)
def recompute(request: HttpRequest):
    """Queue a recompute of every leaderboard, coalesced with any running or queued one. `status` is
    "queued", "pending" (one is already queued) or "joined" (the running one will run once more)."""
    staff_check(request.auth, refusal="Only staff can recompute the leaderboards.")
    return Status(202, {"status": recompute_request(trigger="api")})


class BattleExportParams(Schema):
    format: str = "jsonl"
    source: list[str] = []
    dimension: list[str] = []
    since: str = ""


@router.get(
    "/battles",
    response={200: None, **ERRORS},
    summary="Raw verdicts, one record per verdict, streamed (fastchat, jsonl or csv)",
)
def battles(request: HttpRequest, params: Query[BattleExportParams]):
    """Every verdict the leaderboards count: `format` (fastchat, jsonl, csv), `source` and `dimension`
    (repeat for several; default all), `since` (ISO date or time). Voters are salted hashes. Answers an open
    annotation task may serve are `null` (with `answers_withheld`) unless the token belongs to staff."""
    lists = {"source": params.source, "dimension": params.dimension}
    export = battle_export_parse({"format": params.format, "since": params.since}, lists=lists)
    return battles_download(export, sees_blind=may_see_blind(user_of(request)))
