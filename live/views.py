"""Live battle pages. Thin: the services in live.services hold the rules, live.streaming the stream.

Every action is a plain form post answered by a redirect to the battle's page (so a reload never repeats
it); the page's script opens the stream when a turn is waiting for one. Errors come back as the page with
the message, the status saying what kind of error it is (400 bad input, 409 wrong moment, 429 a limit).
"""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from arena.error_responses import error_headers, status_for
from arena.errors import DomainError, Forbidden
from arena.rendering import render_markdown
from arena.voting import CHOICES, Voter, ballot_from_post, voter_for_request
from live.models import LiveBattle
from live.services.battles import (
    live_battle_of,
    live_battle_start,
    live_regenerate,
    live_stream_claim,
    live_turn_add,
    sides_of,
)
from live.services.recording import live_dimensions, live_reveal, live_vote_record
from live.stream_opening import Left
from live.streaming import SideCall, side_calls, sse, turn_events

PAGE = "live/arena.html"


def _limits() -> dict:
    return {
        "max_chars": settings.ARENA_LIVE_MAX_PROMPT_CHARS,
        "max_turns": settings.ARENA_LIVE_MAX_TURNS,
        "per_day": settings.ARENA_LIVE_BATTLES_PER_USER_PER_DAY,
    }


def _voter(request: HttpRequest, *, create: bool) -> Voter | None:
    try:
        return voter_for_request(request, create=create)
    except DomainError:
        return None


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """The prompt box (a new round). Anonymous visitors see it only when the arena allows anonymous votes."""
    may_battle = request.user.is_authenticated or settings.ARENA_ANONYMOUS_VOTING
    return render(request, PAGE, {"may_battle": may_battle, "limits": _limits()})


def _error_page(request: HttpRequest, exc: DomainError, **context) -> HttpResponse:
    """The refusal inside the live page itself (the prompt box keeps what was typed), with the status and
    headers of arena.error_responses."""
    context = {"may_battle": True, "limits": _limits(), "error": exc.message, **context}
    response = render(request, PAGE, context, status=status_for(exc))
    for name, value in error_headers(exc).items():
        response[name] = value
    return response


@require_POST
def start(request: HttpRequest) -> HttpResponse:
    voter = _voter(request, create=True)
    if voter is None:
        return redirect_to_login(reverse("live:page"))
    text = request.POST.get("prompt", "")
    try:
        battle = live_battle_start(voter=voter, text=text)
    except DomainError as exc:
        return _error_page(request, exc, prompt=text)
    return redirect("live:battle", token=battle.token)


def _battle_context(battle: LiveBattle) -> dict:
    sides = sides_of(battle)
    rounds = []
    for number, turn in enumerate(sides.turns):
        rounds.append(
            {
                "prompt_html": render_markdown(turn),
                "left_html": render_markdown(sides.left[number]) if number < len(sides.left) else None,
                "right_html": render_markdown(sides.right[number]) if number < len(sides.right) else None,
            }
        )
    context = {
        "battle": battle,
        "rounds": rounds,
        "choices": CHOICES.items(),
        "dimensions": live_dimensions(),
        "turns_left": settings.ARENA_LIVE_MAX_TURNS - len(battle.turns) - battle.regenerations,
    }
    if battle.state == LiveBattle.State.VOTED:
        context["reveal"] = live_reveal(battle)
    return context


@require_GET
def battle(request: HttpRequest, token: str) -> HttpResponse:
    voter = _voter(request, create=False)
    try:
        if voter is None:
            raise Forbidden("Sign in to see your live battles.")
        live = live_battle_of(token=token, voter=voter)
    except DomainError as exc:
        return _error_page(request, exc, may_battle=voter is not None)
    return render(request, PAGE, {"may_battle": True, "limits": _limits(), **_battle_context(live)})


async def stream(request: HttpRequest, token: str) -> HttpResponse | StreamingHttpResponse:
    """The battle's waiting turn as Server-Sent Events (see live.streaming); an async view, so a stream
    holds no worker thread while the endpoints think."""
    if request.method != "GET":
        return HttpResponse("Use GET for the stream.", status=405, headers={"Allow": "GET"})
    try:
        opened = await sync_to_async(stream_open)(request, token)
    except DomainError as exc:
        return HttpResponse(exc.message, status=status_for(exc), content_type="text/plain; charset=utf-8")
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if opened is None:  # nothing waiting (answered, or streaming in another tab): the page reloads
        return StreamingHttpResponse(nothing_waiting(), content_type="text/event-stream", headers=headers)
    claimed, calls = opened
    return StreamingHttpResponse(
        turn_events(claimed, calls), content_type="text/event-stream", headers=headers
    )


def stream_open(
    request: HttpRequest, token: str, *, gone: Callable[[], bool] = lambda: False
) -> tuple[LiveBattle, list[SideCall]] | None:
    """The voter, the claim and the calls' checks in one trip to a worker thread (each trip costs the event
    loop a hand-over, and under load a wait for the thread). `gone()` says the person has left (the tab
    closed while the opening waited): then nothing is claimed (`Left`)."""
    try:
        voter = _voter(request, create=False)
        if voter is None:
            raise Forbidden("Sign in to stream your live battles.")
        if gone():
            raise Left
        claimed = live_stream_claim(token=token, voter=voter)
        return None if claimed is None else (claimed, side_calls(claimed))
    finally:
        # Django gives the database connection back when the response ends, here seconds later: with a
        # pool (DB_POOL_MAX_SIZE) every stream would hold one meanwhile. Back now, as at a request's end;
        # not inside a transaction someone else opened (a test's), which closing would end under its feet.
        if not connection.in_atomic_block:
            close_old_connections()


async def nothing_waiting():
    yield sse("end", {"state": "reload", "leak": False, "message": ""})


def _act(request: HttpRequest, token: str, action) -> HttpResponse:
    """Run `action(voter)` on the voter's own battle; its refusal comes back as the battle's page."""
    voter = _voter(request, create=False)
    try:
        if voter is None:
            raise Forbidden("Sign in to battle.")
        live = live_battle_of(token=token, voter=voter)
    except DomainError as exc:
        return _error_page(request, exc)
    try:
        action(voter)
    except DomainError as exc:
        live.refresh_from_db()
        return _error_page(request, exc, **_battle_context(live))
    return redirect("live:battle", token=token)


@require_POST
def turn(request: HttpRequest, token: str) -> HttpResponse:
    text = request.POST.get("prompt", "")
    return _act(request, token, lambda voter: live_turn_add(token=token, voter=voter, text=text))


@require_POST
def regenerate(request: HttpRequest, token: str) -> HttpResponse:
    return _act(request, token, lambda voter: live_regenerate(token=token, voter=voter))


@require_POST
def vote(request: HttpRequest, token: str) -> HttpResponse:
    def record(voter: Voter) -> None:
        live_vote_record(token=token, voter=voter, ballot=ballot_from_post(request.POST))

    return _act(request, token, record)
