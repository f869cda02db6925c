"""The ASGI entry sends GET requests for a live battle's stream to `live.stream_app`, everything else to Django
(the stream's behaviour itself is tested through the real server in test_live_streaming.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import redis

from live import stream_app
from tests.support.event_loop import run_coroutine

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Abc-def_0123456789abcdefghijklmn"


def routed_to(method: str, path: str, *, root_path: str = "") -> str:
    """Which of the two apps served the request: "stream" or "django"."""
    served = []

    async def django_app(scope, receive, send):
        served.append("django")

    async def stream_serve(scope, receive, send, token):
        served.append(f"stream:{token}")

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    async def request():
        scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path}
        await stream_app.stream_routed(django_app)(scope, receive, send)

    with mock.patch.object(stream_app, "stream_serve", stream_serve):
        run_coroutine(request())  # not asyncio.run: Playwright's sync browser may hold this thread's loop
    (which,) = served
    return which


@pytest.mark.parametrize("root_path", ["", "/prefix"])
def test_it_serves_a_streams_get_beside_django(root_path):
    assert routed_to("GET", f"/arena/b/{TOKEN}/stream/", root_path=root_path) == f"stream:{TOKEN}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/arena/b/{TOKEN}/stream/"),  # the view answers 405
        ("GET", f"/arena/b/{TOKEN}/"),  # the battle's page
        ("GET", "/arena/b/not%20a%20token/stream/"),  # not a token this arena makes: the view answers
        ("GET", f"/arena/b/{TOKEN}/stream/extra"),
        ("GET", "/leaderboard/"),
    ],
)
def test_everything_else_goes_to_django(method, path):
    assert routed_to(method, path) == "django"


def test_the_asgi_entry_routes_streams():
    from arena import asgi

    assert asgi.application is not asgi.django_application
    assert asgi.application.__qualname__.startswith("stream_routed")


def test_the_asgi_entry_compiles_the_endpoint_checks_pattern_before_any_request():
    """Otherwise each worker's first opening compiles it (tens of ms) while its other openings wait."""
    code = (
        "import arena.asgi; from django.core.validators import URLValidator; "
        "from django.utils.functional import empty; print(URLValidator.regex._wrapped is not empty)"
    )
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_an_unexpected_error_while_opening_is_logged_and_answered_503(caplog):
    """A database or Redis outage during the opening: a plain 503 and a logged error, not a bare 500 that
    only the ASGI server sees."""
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    def opened(scope, token):
        raise ConnectionError("the database went away")

    scope = {"type": "http", "method": "GET", "path": f"/arena/b/{TOKEN}/stream/", "headers": []}
    with mock.patch.object(stream_app, "_opened", opened):
        run_coroutine(stream_app.stream_serve(scope, receive, send, TOKEN))

    assert sent[0]["status"] == 503
    assert b"reload the page" in sent[1]["body"]
    assert f"opening the stream of live battle {TOKEN} failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_workers_start_makes_the_openings_connections_and_its_stop_closes_them(monkeypatch):
    """ASGI lifespan, which Django's handler refuses: at start the loop's connections for openings are made
    (kept, as in a pooled deployment) and what the worker loaded is left out of full collections; at stop
    they are closed."""
    import gc

    from live import async_database, stream_opening

    monkeypatch.setattr(async_database, "_pooled", lambda: True)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []
    kept: list = []
    kept_redis: list = []

    async def receive():
        message = next(messages)
        if message["type"] == "lifespan.shutdown":
            kept.extend(async_database.lender(stream_app.OPENINGS_AT_ONCE).idle)
            pool = stream_opening._redis().connection_pool
            kept_redis.extend([*pool._available_connections, *pool._in_use_connections])
        return message

    async def send(message):
        sent.append(message)

    async def lifespan():
        app = stream_app.stream_routed(_refusing_app)
        await app({"type": "lifespan"}, receive, send)

    try:
        run_coroutine(lifespan())
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert len(kept) == stream_opening.LOOP_CONNECTIONS_USED and all(each.closed for each in kept)
    # The sessions' cache's connection too, made at start and closed at stop.
    assert kept_redis and not any(each.is_connected for each in kept_redis)
    assert len(kept_redis) == 1  # one MGET out at a time: one connection
    assert frozen > 0


@pytest.mark.django_db(transaction=True)
def test_a_sessions_cache_down_at_start_still_leaves_the_database_connections_made(monkeypatch, settings):
    from live import async_database, stream_opening

    monkeypatch.setattr(async_database, "_pooled", lambda: True)
    caches = {alias: dict(cache) for alias, cache in settings.CACHES.items()}
    caches[settings.SESSION_CACHE_ALIAS]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CACHES = caches

    async def start():
        try:
            with pytest.raises(redis.ConnectionError):
                await stream_opening.warm(stream_app.OPENINGS_AT_ONCE)
            return list(async_database.lender(stream_app.OPENINGS_AT_ONCE).idle)
        finally:
            await stream_opening.close()

    made = run_coroutine(start())
    assert len(made) == stream_opening.LOOP_CONNECTIONS_USED and all(each.closed for each in made)


async def _refusing_app(scope, receive, send):
    raise AssertionError(f"Django's handler got a {scope['type']} scope")


def test_the_provider_calls_start_before_the_head_and_are_closed_when_the_head_cannot_be_sent():
    """The events' first chunk (whose taking starts both provider calls) is taken before the head is written,
    so the calls' connections are made meanwhile; if the head then fails, the events' clean-up still runs
    (the calls cancelled, the battle marked cancelled): nothing is left streaming for nobody."""
    seen: list[str] = []

    async def events(battle, calls):
        seen.append("calls started")
        try:
            yield b"event: start\n\n"
            seen.append("resumed")
        finally:
            seen.append("closed")

    async def opened(request, token, gone):
        return "battle", []

    async def receive():
        await asyncio.sleep(3600)  # the person stays
        return {"type": "http.disconnect"}

    async def send(message):
        seen.append(message["type"])
        raise OSError("the client's connection broke")

    scope = {"type": "http", "method": "GET", "path": f"/arena/b/{TOKEN}/stream/", "headers": []}
    with (
        mock.patch.object(stream_app, "_open", opened),
        mock.patch.object(stream_app, "turn_events", events),
        pytest.raises(OSError),
    ):
        run_coroutine(stream_app.stream_serve(scope, receive, send, TOKEN))

    assert seen == ["calls started", "http.response.start", "closed"]
