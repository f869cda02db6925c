"""Leaderboard pages: thin views over `leaderboard.selectors`; every number shown was stored by a recompute.

The index serves the whole page, or only its `table` partial to htmx requests (tabs, filters, sorting).
Bad query parameters render a page saying what was wrong, with status 400 (404 for a missing run or
contender), never a 500.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from arena.blindness import may_see_blind
from arena.error_responses import status_for
from arena.errors import DomainError
from arena.staff import staff_required
from leaderboard import charts, selectors
from leaderboard.board_query import BoardQuery, board_query_parse, runs_finished
from leaderboard.board_state import BoardState, board_state_read
from leaderboard.models import RecomputeRun, RecomputeState
from leaderboard.notices import board_notices, style_notice
from leaderboard.services.battle_export import (
    CONTENT_TYPES,
    battle_export_parse,
    battles_filename,
    export_chunks,
)
from leaderboard.services.coalescing import recompute_request
from leaderboard.services.exports import board_csv, board_payload, export_filename

PROFILE_DEFAULT = 3
# A rendered board is kept this long at most; its key changes at once with anything it names (see _board_html).
BOARD_CACHE_SECONDS = 300


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


REQUEST_MESSAGES = {
    "queued": "Recompute queued: this page shows the new leaderboard by itself when it finishes.",
    "pending": "A recompute is already queued: this page shows the new leaderboard by itself when it finishes.",
    "joined": "A recompute is running; it will run once more to include everything up to now.",
}
# Seconds between the page's checks of a running recompute (htmx polling).
POLL_SECONDS = 2


@require_GET
def index(request: HtmxHttpRequest) -> HttpResponse:
    state = board_state_read()
    board_html = _board_html(request.GET, state)
    if request.htmx:
        return HttpResponse(board_html)
    status = _recompute_status_context(
        request, shown=state.latest, latest=state.latest, running=state.running, recompute=state.recompute
    )
    return render(request, "leaderboard/index.html", {"board_html": board_html, "status": status})


def _board_html(params: QueryDict, state: BoardState) -> str:
    """The board (the page's `table` partial) for `params`; the boards the page links to are rendered once
    and then served from the cache.

    A board shows nothing of the viewer, and is rendered without the request (no user, no CSRF token, no
    context processors), so one copy serves everyone. Its key names everything it shows that can change
    (`leaderboard.board_state`): the latest finished run and the running one (a stored run or a started
    recompute changes it), the parsed query (so `min_votes=07` and `min_votes=7` are one board), the language,
    and the contenders', dimensions' and sources' names; what else could change (an old run pruned from the
    run menu) shows after BOARD_CACHE_SECONDS. A bad parameter raises while parsing, before anything is stored.

    Parsing the query reads the database (the run's default source, the dimensions): a repeated request finds
    its board's key in `_BOARD_KEYS` instead, by its parameters as written and the same state."""
    written = _written_key(params, state)
    key = _BOARD_KEYS.get(written) if written else None
    html = cache.get(key) if key else None
    if html is None:
        query = board_query_parse(params)
        key = _board_cache_key(query, state) if _board_cacheable(query) else None
        html = cache.get(key) if key else None
        if html is None:
            context = _board_context(selectors.board_get(query), running=state.running)
            html = render_to_string("leaderboard/index.html#table", context)
            if key:
                cache.set(key, str(html), BOARD_CACHE_SECONDS)
        if key and written:
            _board_key_remember(written, key)
    # Rendered by our template, with its escaping; the cache holds it as a plain str.
    return mark_safe(html)  # noqa: S308


def _board_cacheable(query: BoardQuery) -> bool:
    """Only the boards the page's tabs and column headers lead to (dimension, category, source and sort take
    a few values each). A minimum vote count, a comparison day, an older run or a chosen profile can each
    take countless values: caching those would let anyone fill the shared cache (the broker's Redis) with
    variants, so they are rendered for each request."""
    return not (query.min_votes or query.since or query.explicit_run or query.profile)


def _board_cache_key(query: BoardQuery, state: BoardState) -> str:
    digest = hashlib.sha256(repr((query.querystring(), state.names)).encode()).hexdigest()
    return f"leaderboard:board:{_run_ids(state)}:{get_language()}:{digest}"


def _run_ids(state: BoardState) -> str:
    return f"{state.latest.pk if state.latest else 0}:{state.running.pk if state.running else 0}"


# The parameters a board's key may be found by as written: those whose valid values are the names in the
# state (dimensions, sources) or fixed (sort), each given once. Any other parameter, even one the parse
# ignores, is parsed each time (`category` is checked against the prompts, which the state does not name).
WRITTEN_PARAMETERS = frozenset({"dimension", "source", "sort"})
# The filter form sends these on every request, empty when unset; empty, each parses as if it were absent
# (board_query_parse), so it is left out of the parameters as written.
EMPTY_AS_ABSENT = frozenset({"category", "min_votes", "run", "since"})
# This process's board keys by parameters as written and state (`_written_key`). The key a request parses
# to is a function of those alone, so an entry is never wrong, only unused once the state changes; the
# few hundred entries are dropped together when full.
_BOARD_KEYS: dict[str, str] = {}
BOARD_KEYS_KEPT = 512


def _written_key(params: QueryDict, state: BoardState) -> str | None:
    """The parameters as written and everything their parse reads, or None when they are not all of
    WRITTEN_PARAMETERS, given once each. Only values that parsed are remembered (a bad one raises first),
    so the entries are bounded by the dimensions, sources and sort keys."""
    if any(len(params.getlist(name)) > 1 for name in params):
        return None
    written = {name: value for name, value in params.items() if value or name not in EMPTY_AS_ABSENT}
    if not written.keys() <= WRITTEN_PARAMETERS:
        return None
    return repr((_run_ids(state), get_language(), state.names, sorted(written.items())))


def _board_key_remember(written: str, key: str) -> None:
    if len(_BOARD_KEYS) >= BOARD_KEYS_KEPT:
        _BOARD_KEYS.clear()
    _BOARD_KEYS[written] = key


def _board_context(board: selectors.Board, *, running: RecomputeRun | None) -> dict:
    query = board.query
    index_url = reverse("leaderboard:index")
    by_rating = sorted(board.rows, key=lambda row: row.position)
    profile = query.profile or tuple(row.slug for row in by_rating[:PROFILE_DEFAULT])
    with_data = selectors.dimensions_with_data(query.run, query.source_key, query.category)
    style = style_notice(board)
    return {
        "board": board,
        "query": query,
        "index_url": index_url,
        "notices": board_notices(board),
        "style_notice": style,
        "tabs": [
            {
                "dimension": d,
                "current": d == query.dimension,
                "empty": d.pk not in with_data,
                "url": index_url + query.querystring(dimension=d),
            }
            for d in selectors.dimensions_shown()
        ],
        "columns": _columns(query, index_url, show_style=style is None),
        "sources": selectors.sources_in(query.run),
        "categories": selectors.categories_in(query.run),
        "runs": selectors.runs_recent(),
        "running": running,
        "agreements": selectors.agreement_table(query.run, query.dimension, query.category),
        "export_query": query.querystring(profile=()),
        "compare_url": reverse("leaderboard:compare"),
        "battles_query": urlencode(
            {"format": "fastchat", "source": query.source_key, "dimension": query.dimension.slug}
        ),
        "contender_query": "?" + urlencode({"dimension": query.dimension.slug, "source": query.source_key}),
        "profile": profile,
        "profile_hidden": [(k, v) for k, v in query.params(profile=()).items()],
        "charts": _charts(board, by_rating) if board.rows else [],
        "profile_chart": _profile_chart(board, profile) if board.rows else None,
    }


COLUMNS = [
    (None, "Compare", ""),
    ("rank", "Rank", "num"),
    ("name", "Contender", ""),
    ("rating", "Rating", "num"),
    (None, "95% CI", "num"),
    (None, "Change", "num"),
    ("style", "Style-controlled", "num"),
    ("winrate", "Avg. win rate", "num"),
    ("votes", "Votes", "num"),
    ("org", "Organization", ""),
    ("license", "License", ""),
]


def _columns(query, index_url: str, *, show_style: bool) -> list[dict]:
    return [
        {"key": key, "label": label, "css": css, "sort": key is not None,
         "url": index_url + query.sort_link(key) if key else ""}
        for key, label, css in COLUMNS
        if show_style or key != "style"
    ]  # fmt: skip


def _charts(board: selectors.Board, by_rating: list) -> list[dict]:
    return charts.board_charts(board.snapshot, by_rating)


def _profile_chart(board: selectors.Board, profile: tuple[str, ...]) -> dict:
    names = {row.slug: row.name for row in board.all_rows}
    return charts.dimension_profile(selectors.profile_get(board.query, profile), names)


@require_POST
@staff_required("Only staff can recompute the leaderboards.")
def recompute(request: HtmxHttpRequest) -> HttpResponse:
    """Staff only: ask the workers for a recompute (coalesced with any running or queued one)."""
    outcome = recompute_request(trigger="staff")
    if request.htmx:
        state = board_state_read()
        status = _recompute_status_context(
            request,
            shown=state.latest,
            polling=True,
            latest=state.latest,
            running=state.running,
            recompute=state.recompute,
        )
        context = {
            "request_message": REQUEST_MESSAGES[outcome],
            "status": status,
        }
        return render(request, "leaderboard/index.html#recompute-status", context)
    messages.info(request, REQUEST_MESSAGES[outcome])
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return redirect(target if safe and target else reverse("leaderboard:index"))


def _recompute_status_context(
    request: HttpRequest,
    *,
    shown: RecomputeRun | None,
    polling: bool = False,
    polled: bool = False,
    latest: RecomputeRun | None,
    running: RecomputeRun | None,
    recompute: RecomputeState | None,
) -> dict:
    """Whether a recompute is under way (the status box keeps polling), or finished since the page showed
    run `shown` (the box fetches the new board), or neither (the box stops polling). `latest` is the latest
    finished run, `running` the run under way if any, `recompute` the recompute state row (None before the
    first request made it), all read by the caller (`board_state_read`), which shows the runs too. Under way
    means a live lease or a fresh queued request, not a "running" run row, which a dead worker can leave behind."""
    now = timezone.now()
    queue_ttl = timedelta(seconds=settings.LEADERBOARD_QUEUE_TTL_SECONDS)
    busy = polling or (
        recompute is not None
        and (
            bool(recompute.holder and recompute.lease_until and recompute.lease_until >= now)
            or bool(recompute.queued_at and recompute.queued_at >= now - queue_ttl)
        )
    )
    finished = latest is not None and (shown is None or latest.pk != shown.pk)
    board_query = request.GET.copy()
    board_query.pop("run", None)
    return {
        "busy": busy and not finished,
        "finished": latest if finished else None,
        "unchanged": polled and not busy and not finished,
        "running": running,
        "poll_seconds": POLL_SECONDS,
        "poll_url": reverse("leaderboard:recompute-status")
        + "?"
        + urlencode({"shown": shown.pk if shown else "", "board": board_query.urlencode()}),
        "board_url": reverse("leaderboard:index") + "?" + board_query.urlencode(),
    }


@require_GET
def recompute_progress(request: HttpRequest) -> HttpResponse:
    """The status box alone, for htmx polling: `shown` is the run the page shows, `board` its query."""
    shown_id = request.GET.get("shown", "")
    shown = (
        runs_finished().filter(pk=int(shown_id)).first()
        if shown_id.isascii() and shown_id.isdigit()
        else None
    )
    board = request.GET.get("board", "")
    request.GET = QueryDict(board)
    state = board_state_read()
    status = _recompute_status_context(
        request,
        shown=shown,
        polled=True,
        latest=state.latest,
        running=state.running,
        recompute=state.recompute,
    )
    context = {"status": status}
    return render(request, "leaderboard/index.html#recompute-status", context)


@require_GET
def about(request: HttpRequest) -> HttpResponse:
    context = {
        "provisional_ci": settings.LEADERBOARD_PROVISIONAL_CI,
        "min_votes": settings.LEADERBOARD_MIN_VOTES,
        "min_coverage": settings.ARENA_MIN_COVERAGE,
        "min_verdicts": settings.LEADERBOARD_MIN_VERDICTS,
    }
    return render(request, "leaderboard/about.html", context)


@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    board = selectors.board_get(board_query_parse(request.GET))
    response = HttpResponse(board_csv(board), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(board, "csv")}"'
    return response


@require_GET
def export_json(request: HttpRequest) -> HttpResponse:
    board = selectors.board_get(board_query_parse(request.GET))
    body = json.dumps(board_payload(board), cls=DjangoJSONEncoder, indent=2)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(board, "json")}"'
    return response


@require_GET
def contender(request: HttpRequest, slug: str) -> HttpResponse:
    contender = selectors.contender_public_or_404(slug)
    query = board_query_parse(request.GET)
    snapshot = selectors.snapshot_find(
        query.run, dimension_id=query.dimension.pk, category=query.category, source_key=query.source_key
    )
    context = {
        "contender": contender,
        "query": query,
        "ratings": selectors.contender_ratings(query.run, contender, query.category),
        "sources": selectors.sources_in(query.run),
        "dimensions": selectors.dimensions_shown(),
        "snapshot": snapshot,
        "records": selectors.head_to_head(snapshot, contender),
        "history_chart": _history_chart(query, contender),
        "examples": selectors.battles_example(contender, user=request.user),
        "examples_withheld": selectors.battles_example_withheld(contender, user=request.user),
        "others": selectors.contenders_public().exclude(pk=contender.pk),
    }
    return render(request, "leaderboard/contender.html", context)


def _history_chart(query, contender) -> dict | None:
    points = selectors.rating_history(query, contender)
    return charts.rating_history(points, contender.name) if points else None


@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    """Two contenders side by side, named by `a` and `b` or by two `pick` values (the leaderboard's tick
    boxes). Without any, a picker; with a wrong choice, the picker again with what was wrong."""
    query = board_query_parse(request.GET)
    picked = [slug for slug in request.GET.getlist("pick") if slug]
    first_slug, second_slug = request.GET.get("a"), request.GET.get("b")
    if not (picked or first_slug or second_slug):
        return _compare_picker(request, query, "", 200)
    if picked:
        if len(picked) != 2:
            message = f"Tick exactly two contenders to compare; {len(picked)} were ticked."
            return _compare_picker(request, query, message, 400, picked)
        first_slug, second_slug = picked
    try:
        first, second = selectors.contender_pair_or_error(first_slug, second_slug)
    except DomainError as error:
        return _compare_picker(request, query, error.message, status_for(error), [first_slug, second_slug])
    context = {
        "query": query,
        "first": first,
        "second": second,
        "comparison": selectors.compare_get(query, first, second),
        "examples": selectors.battles_example(first, opponent=second, user=request.user),
        "examples_withheld": selectors.battles_example_withheld(first, opponent=second, user=request.user),
        "contenders": selectors.contenders_public(),
        "sources": selectors.sources_in(query.run),
    }
    return render(request, "leaderboard/compare.html", context)


def _compare_picker(request, query, message: str, status: int, chosen=()) -> HttpResponse:
    chosen = list(chosen) + ["", ""]
    context = {
        "query": query,
        "message": message,
        "contenders": selectors.contenders_public(),
        "sources": selectors.sources_in(query.run),
        "chosen_a": chosen[0] or "",
        "chosen_b": chosen[1] or "",
    }
    return render(request, "leaderboard/compare_picker.html", context, status=status)


@require_GET
def battles_export(request: HttpRequest) -> StreamingHttpResponse:
    """The raw verdicts (``format``, repeated ``source`` / ``dimension``, ``since``), streamed as a download."""
    export = battle_export_parse(request.GET, lists=_lists(request.GET, "source", "dimension"))
    return battles_download(export, sees_blind=may_see_blind(request.user))


def _lists(params, *names: str) -> dict[str, list[str]]:
    return {name: params.getlist(name) for name in names}


def battles_download(export, *, sees_blind: bool) -> StreamingHttpResponse:
    """A streamed attachment of ``export`` (shared with the API)."""
    response = StreamingHttpResponse(
        export_chunks(export, sees_blind=sees_blind), content_type=CONTENT_TYPES[export.file_format]
    )
    response["Content-Disposition"] = f'attachment; filename="{battles_filename(export)}"'
    response["Cache-Control"] = "private, no-store" if sees_blind else "no-cache"
    return response
