"""The live battles' stream, served beside Django's request stack rather than through it.

Opening a stream is the costly moment of a live battle: fifty people opening theirs at once queue behind one
another on the web workers. Through Django's stack an opening passed every middleware in a thread lent to the
request (three of the middleware are sync-only, so the whole stack runs in a thread, then hands back to the
event loop for the async view, which sends its database work to a thread again), most of it for nothing a
stream needs: no CSRF (a GET), no messages, no page headers, no htmx. Here a stream gets what it does need:
the host check (and SecurityMiddleware's redirect to HTTPS when configured), then the opening: the session,
the signed-in user, the battle's claim and its calls' checks. In the common case (a signed-in person whose
session is in Redis, on PostgreSQL) the opening runs on the event loop itself (`live.stream_opening`: no
thread); otherwise in one trip to a thread, through Django's own SessionStore and `auth.get_user` and
`live.views.stream_open`, as the view does. Then the events go straight to the ASGI server, with the headers
Django's middleware would have given the response (`_middleware_headers`).

Everything else still goes to Django, including the stream's URL with another method (the view answers 405)
and a token that is not one this arena makes (the view answers 404 or 403).

A closed tab: the server reports the disconnect. Listened for from the request's arrival: a tab closed while
its opening waits claims nothing. Later, the events are cancelled, and `live.streaming.turn_events` cancels
both provider calls and marks the battle cancelled, as under Django's handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import io
import logging
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import import_module
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.contrib import auth
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.core.validators import URLValidator
from django.db import close_old_connections
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import reverse
from django.utils.cache import patch_vary_headers

from arena.error_responses import status_for
from arena.errors import DomainError
from live import stream_opening
from live.services.battles import claimed_conversions
from live.stream_opening import Left, Opened, Unsettled, stream_open_async
from live.streaming import streaming_provider, turn_events
from live.views import nothing_waiting, stream_open

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Battle tokens are `secrets.token_urlsafe(24)`: 32 URL-safe characters.
TOKEN = "[A-Za-z0-9_-]{1,64}"
# Openings a worker runs at once (in threads, or holding one of the loop's connections in
# `live.stream_opening`); the others wait their turn, first come first served. Fifty side by side
# (a thread each, under one interpreter lock) all ended together, after the fifty, while in turn each stream
# starts as soon as its own opening is done. More than one, because an opening mostly waits on its trips to
# Redis and PostgreSQL: fifty openings took 1.45 s from the first to the last with two at a time, 0.76-0.80 s
# with four, 0.69 s with six (bench_live_streams, load 5-6.5). In threads, four leaves half of a pool of
# eight connections (compose's DB_POOL_MAX_SIZE) to the pages; on the loop, openings use the loop's own
# connections (`live.async_database`), outside the pool: up to four more per worker. On the loop, sixteen
# instead of four did not shorten fifty openings (bench/profile_live_openings.py, 2026-12-06 #4, at load
# 15-18: p50 355 against 232 ms); since #5 the loop's openings coalesce their look-ups and hold at most
# `stream_opening.LOOP_CONNECTIONS_USED` of them.
OPENINGS_AT_ONCE = 4
# How long a worker's start waits for the openings' connections (`_lifespan`).
WARM_UP_TIMEOUT_S = 10
_TURNSTILES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
# The stream's own headers; Django's middleware adds the others (`_middleware_headers`).
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def stream_routed(django_app: AsgiApp) -> AsgiApp:
    """`django_app`, with GET requests for a live battle's stream served by `stream_serve`."""
    _warm_up()
    prefix, _, suffix = reverse("live:stream", args=["TOKEN"]).partition("TOKEN")
    stream_path = re.compile(f"{re.escape(prefix)}(?P<token>{TOKEN}){re.escape(suffix)}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # Django's handler refuses this scope; the worker's start and stop
            await _lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            found = stream_path.fullmatch(path)
            if found:
                await stream_serve(scope, receive, send, found["token"])
                return
        await django_app(scope, receive, send)

    return app


def _warm_up() -> None:
    """Pay, as the worker loads, what the first opening would pay: the endpoint check validates the URL with
    Django's URLValidator, whose pattern is compiled on first use (tens of milliseconds, during which the
    worker's other openings wait their turn). Likewise what the first opening would make and keep: the
    middleware's headers over HTTP (SecurityMiddleware compiles its exempt patterns when made), the
    provider (imported and registered on first use) and its streaming check, the claimed rows'
    converters. The statements' own first run is `stream_opening.rehearse`, at the worker's start."""
    URLValidator(schemes=["http", "https"])("http://warm-up.example/v1")
    _security()
    _middleware_headers(HttpRequest())
    streaming_provider()
    claimed_conversions()


async def _lifespan(receive: Receive, send: Send) -> None:
    """The worker's start and stop (ASGI lifespan): at start, the openings' connections are made
    (`stream_opening.warm`); at stop, closed. A failure to make them (the database not up yet) is logged and
    the worker starts anyway: openings then make their connections themselves."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                async with asyncio.timeout(WARM_UP_TIMEOUT_S):
                    await stream_opening.warm(OPENINGS_AT_ONCE)
            except Exception:  # noqa: BLE001  # whatever it is, the first openings will meet it and say
                logger.warning("the live streams' connections could not be made at start", exc_info=True)
            _long_lived()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):  # stopping anyway
                await stream_opening.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _long_lived() -> None:
    """Leave what the worker loaded at start (Django, the apps, the URLconf: some 230,000 objects) out of the
    garbage collector's full collections. A full collection walks every tracked object: 70-85 ms of CPU on
    the event loop (load ~10), and a burst of openings, allocating as it goes, sets one off, during which
    every stream of the worker waits. Frozen objects are not walked; whatever garbage there was is collected
    first (the one-off `gc.collect()`), so nothing collectable is kept forever."""
    gc.collect()
    gc.freeze()


def _opened(request: ASGIRequest, token: str, gone: Callable[[], bool]) -> Opened:
    """The request's user and the claimed turn, in one trip to a thread: Django's session and
    `auth.get_user`, then `live.views.stream_open`."""
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = auth.get_user(request)  # type: ignore[assignment]  # a User or AnonymousUser
    return stream_open(request, token, gone=gone)


async def stream_serve(scope: Scope, receive: Receive, send: Send, token: str) -> None:
    """Serve one stream. Its database work through Django (the opening when it goes the thread's way, then
    storing the turn) runs in one thread of its own, as Django's handler runs a request's (connections
    belong to threads); the connection goes back at the end, as at the end of a Django request."""
    async with ThreadSensitiveContext():
        try:
            await _serve(scope, receive, send, token)
        finally:
            await sync_to_async(close_old_connections)()


def _openings() -> asyncio.Semaphore:
    """This event loop's turnstile for openings (a semaphore belongs to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    if loop not in _TURNSTILES:
        _TURNSTILES[loop] = asyncio.Semaphore(OPENINGS_AT_ONCE)
    return _TURNSTILES[loop]


async def _open(request: ASGIRequest, token: str, gone: Callable[[], bool]) -> Opened:
    """The opening on the event loop when it is the common case (`live.stream_opening`), else in a thread."""
    if stream_opening.applies():
        try:
            return await stream_open_async(request, token, gone=gone, size=OPENINGS_AT_ONCE)
        except Unsettled as reason:
            logger.debug("stream %s opens the thread's way: %s", token[:6], reason)
    async with _openings():
        if gone():
            raise Left
        return await sync_to_async(_opened)(request, token, gone)


async def _serve(scope: Scope, receive: Receive, send: Send, token: str) -> None:
    # Listened to from the start: a tab closed while its opening waits its turn claims nothing.
    leaving = asyncio.create_task(_disconnect(receive))
    try:
        await _respond(scope, send, token, leaving)
    finally:
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)


async def _respond(scope: Scope, send: Send, token: str, leaving: asyncio.Task) -> None:
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()  # ALLOWED_HOSTS, as Django's own stack checks it
        redirect = _security().process_request(request)  # SECURE_SSL_REDIRECT
        if redirect is not None:
            await _plain(
                send, request, redirect.status_code, "", [(b"location", redirect["Location"].encode())]
            )
            return
        opened = await _open(request, token, leaving.done)
    except Left:
        return  # nobody to answer
    except DomainError as exc:
        await _plain(send, request, status_for(exc), exc.message)
        return
    except DisallowedHost:
        await _plain(send, request, 400, "Bad Request")
        return
    except Exception:  # a database or Redis outage: logged as Django logs a failed request, answered plainly
        logger.exception("opening the stream of live battle %s failed", token)
        await _plain(
            send, request, 503, "The stream could not be opened just now; reload the page to try again."
        )
        return
    events = nothing_waiting() if opened is None else turn_events(*opened)
    # The events' first chunk is taken before the head goes out: taking it starts both provider calls
    # (`turn_events` starts them before its first event), so their connections are made while this
    # worker writes the head and serves the other openings woken with this one. Closed whatever happens.
    first = await anext(events)
    try:
        headers = [*STREAM_HEADERS, *_middleware_headers(request)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sending = asyncio.create_task(_send_all(events, send, first))
        try:
            await asyncio.wait([sending, leaving], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sending.cancel()  # the person left: the events' own clean-up cancels the provider calls
            await asyncio.gather(sending, return_exceptions=True)
    finally:
        # Nothing when `_send_all` closed the events; else (it was cancelled before it ran, or the head could
        # not be sent) their clean-up runs here: the provider calls cancelled, the battle marked cancelled.
        await events.aclose()  # type: ignore[union-attr]  # an async generator
    if sending.done() and not sending.cancelled() and sending.exception() is not None:
        logger.error("live stream %s failed", token[:6], exc_info=sending.exception())


def _no_response(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the middleware's own steps are used")


def _middleware_headers(request: HttpRequest) -> tuple[tuple[bytes, bytes], ...]:
    """The headers Django's middleware would give this response, from the middleware itself (so they follow
    the settings as the pages' do): SecurityMiddleware's (HSTS on HTTPS when configured, nosniff,
    Referrer-Policy, Cross-Origin-Opener-Policy), X-Frame-Options, and `Vary: Cookie` (the response depends
    on the session, as SessionMiddleware says of every response that read it).

    What those middleware add depends on the settings and, of the request, only on whether it came over
    HTTPS: they are worked out once per process for each of the two (and again when a setting changes, as
    tests change them), not per opening, where building a response and running both middleware on it was
    a tenth of the opening's CPU on the event loop, while the worker's other openings waited."""
    secure = request.is_secure()
    found = _HEADERS.get(secure)
    if found is None:
        response = HttpResponse()
        del response["Content-Type"]
        SecurityMiddleware(_no_response).process_response(request, response)
        XFrameOptionsMiddleware(_no_response).process_response(request, response)
        patch_vary_headers(response, ("Cookie",))
        found = _HEADERS[secure] = tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
        )
    return found


@functools.cache
def _security() -> SecurityMiddleware:
    """SecurityMiddleware as the pages' stack holds it: made once (it reads its settings when made), not per
    opening; made again when a setting changes (`_settings_changed`)."""
    return SecurityMiddleware(_no_response)


# `_middleware_headers`' answers: whether the request came over HTTPS -> the headers.
_HEADERS: dict[bool, tuple[tuple[bytes, bytes], ...]] = {}


@receiver(setting_changed)
def _settings_changed(**kwargs: Any) -> None:
    _HEADERS.clear()
    _security.cache_clear()


async def _send_all(events: AsyncIterator[bytes], send: Send, first: bytes) -> None:
    async with contextlib.aclosing(events):  # type: ignore[type-var]  # an async generator
        await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _plain(
    send: Send,
    request: HttpRequest,
    status: int,
    text: str,
    extra: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *extra, *_middleware_headers(request)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})
