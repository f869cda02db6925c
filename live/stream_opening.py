"""A stream's opening on the event loop: the session from Redis, the user and the claim on an async connection.

The opening's common case, a signed-in person whose session is in the Redis cache, needs no thread: one read
from Redis (redis.asyncio), then two statements on the loop's PostgreSQL connections
(`live.async_database`): the user's password hash and whether they are active, and the claim
(`live.services.battles.claims_statement`). Each is an await, and each is coalesced (`live.coalescing`) with
the same look-up of the openings waiting beside it: fifty openings at once share a few MGETs, user reads
and claims instead of making fifty of each (in bench_live_streams, 2026-12-06 #5, the openings' queue for
the loop's connections was most of the first token's time).

It decides only what Django would decide the same way, with Django's own pieces: the session cache key and
serializer of the sessions' cache, the session's user id and backend (Django's `ModelBackend` only), the
backend's `user_can_authenticate`, and the user model's `get_session_auth_hash` compared in constant time.
Anything else raises `Unsettled` and the opening goes the thread's way (`live.stream_app._opened`: Django's
SessionStore and `auth.get_user`, which also handle a session missing from the cache, a hash signed with a
fallback secret, anonymous voters): there the same request gets the answer Django's stack would give.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import Callable
from typing import Any

import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.core.cache.backends.redis import RedisSerializer
from django.db import connection
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from redis.driver_info import DriverInfo

from arena.voting import Voter
from live.async_database import lender, lender_close, usable
from live.coalescing import Coalescer, Gone
from live.models import LiveBattle
from live.services.battles import claimed_battle, claimed_key, claims_statement, live_battle_of
from live.streaming import SideCall, side_calls

logger = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
CACHED_DB_SESSIONS = "django.contrib.sessions.backends.cached_db"
_SESSION_KEY_PREFIX = "django.contrib.sessions.cached_db"  # cached_db's SessionStore.cache_key_prefix
_REDIS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
    weakref.WeakKeyDictionary()
)
_SERIALIZER = RedisSerializer()
_LOOP_STATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
# The loop's PostgreSQL connections the openings hold at once: the users' and the claims' look-ups, one
# request out each (`_LoopState`).
LOOP_CONNECTIONS_USED = 2
# Most keys in one coalesced request (a burst larger than this takes several).
BATCH_MOST = 100
# How long one coalesced request may take (connecting included, `CONNECT_TIMEOUT_S` at most) before its
# openings give up on it: one request of each kind is out at a time, so a stalled round trip (a server or
# network gone quiet) would otherwise hold every opening of the worker. A read that gives up goes the
# thread's way; a claim that gives up is answered 503. A request takes milliseconds, a few hundred under a
# burst on a loaded machine.
BATCH_TIMEOUT_S = 8.0
# Connections to the sessions' cache per event loop (see `_redis`), and how long a read waits for one when
# the cache's OPTIONS set no socket_timeout. One MGET is out at a time (`_LoopState.sessions`).
SESSION_READS_AT_ONCE = 1
SESSION_CONNECTION_WAIT_S = 5.0


class Unsettled(Exception):
    """The opening is not the common case: Django's own session and authentication decide it, in a thread."""


class Left(Exception):
    """The person closed the tab while the opening waited: nothing was claimed."""


Opened = tuple[LiveBattle, list[SideCall]] | None


def applies() -> bool:
    """Whether this deployment's sessions and database are the ones the opening reads itself."""
    backend = str(settings.CACHES.get(settings.SESSION_CACHE_ALIAS, {}).get("BACKEND", ""))
    return (
        connection.vendor == "postgresql"
        and usable()
        and settings.SESSION_ENGINE == CACHED_DB_SESSIONS
        and backend.endswith(".RedisCache")
    )


async def stream_open_async(
    request: HttpRequest, token: str, *, gone: Callable[[], bool], size: int
) -> Opened:
    """As `live.views.stream_open`, for a request whose host was checked: the claimed battle and its calls, or
    None when nothing waits. Raises `Unsettled` (see the module doc), `Left` when `gone()` says the person
    left before the claim was sent (asked again as the coalesced claims go out), TimeoutError when the claim
    had no answer in `BATCH_TIMEOUT_S`, or DomainError (404, 403) as the claim does."""
    data = await _session_data(request.COOKIES.get(settings.SESSION_COOKIE_NAME), size)
    user_id, backend, session_hash = (
        data.get(k) for k in ("_auth_user_id", "_auth_user_backend", "_auth_user_hash")
    )
    if not (
        user_id and session_hash and backend == MODEL_BACKEND and backend in settings.AUTHENTICATION_BACKENDS
    ):
        raise Unsettled("not a session of a user signed in with the model backend")
    user_model = get_user_model()
    try:
        pk = user_model._meta.pk.to_python(user_id)
    except Exception:  # noqa: BLE001  # whatever the key's field refuses: Django's own path says what
        raise Unsettled("a user id the user model does not read") from None
    loop = _loop_state(size)
    try:
        row = await loop.users.ask(pk)
    except TimeoutError:
        raise Unsettled("the users' read did not answer in time: Django's own path reads it") from None
    if row is None:
        raise Unsettled("no such user")
    user = user_model(pk=pk, password=row[0], is_active=row[1])
    verified = constant_time_compare(session_hash, user.get_session_auth_hash())
    if not (verified and ModelBackend().user_can_authenticate(user)):
        raise Unsettled("a session Django would not sign in with (inactive, another password or secret)")
    voter = Voter(key=f"u:{pk}", user=None)
    if gone():
        raise Left
    try:  # asked again as the claims are sent: a tab closed while its claim queued claims nothing
        claimed = await loop.claims.ask((token, voter.key), gone=gone)
    except Gone:
        raise Left from None
    if claimed is None:  # say why: 404 unknown, 403 someone else's, else nothing waiting
        await sync_to_async(live_battle_of)(token=token, voter=voter)
        return None
    battle = claimed_battle(claimed)
    if settings.ARENA_ALLOW_PRIVATE_ENDPOINTS:
        return battle, side_calls(battle)
    return battle, await asyncio.to_thread(side_calls, battle)  # the endpoint check resolves the host's name


@functools.cache
def _users_sql() -> str:
    meta = get_user_model()._meta
    quote = connection.ops.quote_name
    assert meta.pk is not None  # every concrete model has one
    columns = {field.name: str(field.column) for field in meta.concrete_fields}
    password, active, pk = columns["password"], columns["is_active"], str(meta.pk.column)
    return (
        f"SELECT {quote(pk)}, {quote(password)}, {quote(active)} FROM {quote(meta.db_table)} "
        f"WHERE {quote(pk)} = ANY(%s)"
    )


class _LoopState:
    """An event loop's coalesced look-ups (`live.coalescing`): sessions from Redis (MGET), users and claims
    from PostgreSQL on the loop's connections (`live.async_database`), each of the three one request out at
    a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        most, timeout = BATCH_MOST, BATCH_TIMEOUT_S
        self.sessions: Coalescer[str, bytes | str | None] = Coalescer(
            self._sessions, most=most, timeout=timeout
        )
        self.users: Coalescer[Any, tuple | None] = Coalescer(self._users, most=most, timeout=timeout)
        self.claims: Coalescer[tuple[str, str], tuple | None] = Coalescer(
            self._claims, most=most, timeout=timeout
        )

    async def _sessions(self, keys: list[str]) -> list[bytes | str | None]:
        return list(await _redis().mget(keys))

    async def _users(self, pks: list[Any]) -> list[tuple | None]:
        async with lender(self.size).connection() as lent:
            rows = await lent.fetchall(_users_sql(), [list(dict.fromkeys(pks))], first=True)
        found = {row[0]: row[1:] for row in rows}
        return [found.get(pk) for pk in pks]

    async def _claims(self, wanted: list[tuple[str, str]]) -> list[tuple | None]:
        # In token order, as every worker sends them, so two workers' batches lock the same battles in the
        # same order. Retried once on a new connection when a kept one is broken (a database restart): the
        # claim changes only a battle still pending, so a claim that did go through claims nothing again.
        ordered = sorted(set(wanted))
        async with lender(self.size).connection() as lent:
            rows = await lent.fetchall(*claims_statement(wanted=ordered), first=True)
        found = {claimed_key(row): row for row in rows}
        # A battle asked for twice at once (two tabs) is claimed once: the first asker gets it.
        return [found.pop(key, None) for key in wanted]


def _loop_state(size: int) -> _LoopState:
    loop = asyncio.get_running_loop()
    found = _LOOP_STATES.get(loop)
    if found is None:
        found = _LOOP_STATES[loop] = _LoopState(size)
    return found


async def _session_data(session_key: str | None, size: int) -> dict:
    """The session's data from the sessions' cache, as cached_db's SessionStore reads it."""
    if not session_key or len(session_key) < 8:  # SessionBase._validate_session_key
        raise Unsettled("no session")
    try:
        raw = await _loop_state(size).sessions.ask(
            _cache_key(settings.SESSION_CACHE_ALIAS)(_SESSION_KEY_PREFIX + session_key)
        )
    except (redis.RedisError, TimeoutError):
        raise Unsettled("Redis unreachable or slow: the session is read from the database") from None
    if raw is None:
        raise Unsettled("not in the cache")
    data = _SERIALIZER.loads(raw if isinstance(raw, bytes) else raw.encode())
    if not isinstance(data, dict):
        raise Unsettled("not a session's data")
    return data


@functools.cache
def _cache_key(alias: str) -> Callable[[str], str]:
    """The sessions' cache's key function (prefix, version; one cache object: under ASGI `caches[alias]`
    makes a new one per request)."""
    return caches[alias].make_and_validate_key


def _redis() -> redis.asyncio.Redis:
    """This event loop's client of the sessions' cache server (a client's connections belong to one loop).

    At most `SESSION_READS_AT_ONCE` connections: the openings' reads are coalesced into one MGET out at a
    time, so a burst makes no connection per opening (each set-up several round trips and CPU on the loop
    while the other openings wait)."""
    loop = asyncio.get_running_loop()
    client = _REDIS.get(loop)
    if client is None:
        cache: dict[str, Any] = settings.CACHES[settings.SESSION_CACHE_ALIAS]
        location = cache["LOCATION"]
        server = location[0] if isinstance(location, list | tuple) else location.split(",")[0]
        options = {k: v for k, v in cache.get("OPTIONS", {}).items() if k.startswith("socket_")}
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            server,
            max_connections=SESSION_READS_AT_ONCE,
            timeout=options.get("socket_timeout") or SESSION_CONNECTION_WAIT_S,
            driver_info=DriverInfo(lib_version=redis.__version__),
            **options,
        )
        client = _REDIS[loop] = redis.asyncio.Redis.from_pool(pool)  # the client's close closes the pool
    return client


async def warm(size: int) -> None:
    """Make, before the first opening, the connections openings use (`LOOP_CONNECTIONS_USED` of the loop's
    PostgreSQL ones, at most `size`, and the sessions' cache's one), as a connection pool opens its minimum at start: a first burst of openings then
    pays no connection set-up, which queued every opening behind it. Then each kept connection runs the
    openings' two statements once (`rehearse`). Does nothing outside `applies()`."""
    if not applies():
        return
    # Both, whichever fails: a Redis down at start does not leave the database's connections unmade.
    made = await asyncio.gather(
        _redis().ping(), lender(size).warm(LOOP_CONNECTIONS_USED), return_exceptions=True
    )
    failures = [each for each in made if isinstance(each, BaseException)]
    if failures:
        raise failures[0]
    try:
        await rehearse(size)
    except Exception:  # noqa: BLE001  # the connections are made and kept; the first openings will say what fails
        logger.warning(
            "the live openings' statements could not be rehearsed at start (their connections are kept)",
            exc_info=True,
        )


async def rehearse(size: int) -> None:
    """Run the openings' two statements once on each connection the loop keeps, matching nothing: the users'
    read for no user, the claim for no battle (it changes no row). The first time a connection runs a
    statement costs its server process what later times do not (the tables' and indexes' descriptions read
    into its caches, the statement planned from scratch) and psycopg its first adaptations; paid inside a
    worker's first burst of openings, that cost held every opening of the burst (their claims are one
    statement), 5-20 ms wall at load (bench_live_streams' first burst is each worker's first, a timing probe
    of 2026-12-07: the first user read 8 ms, the first claim 12 ms, against about 1 ms warm). Nothing when the
    loop keeps no connection (no pool: each opening connects anew, and pays it anyway)."""
    lending = lender(size)
    async with contextlib.AsyncExitStack() as held:  # every kept one at once, so each runs them
        lent = [
            await held.enter_async_context(lending.connection())
            for _ in range(min(len(lending.idle), LOOP_CONNECTIONS_USED))
        ]
        for each in lent:
            await each.fetchall(_users_sql(), [[]], first=True)
            await each.fetchall(*claims_statement(wanted=[]), first=True)


async def close() -> None:
    """Close the loop's kept connections (the worker is stopping)."""
    loop = asyncio.get_running_loop()
    _LOOP_STATES.pop(loop, None)
    client = _REDIS.pop(loop, None)
    if client is not None:
        await client.aclose()
    await lender_close()
