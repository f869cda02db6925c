"""PostgreSQL connections for the event loop: psycopg's async connections, for the streams' openings.

Django's connections belong to threads, so an opening that used them left the event loop for a thread (a
hand-over each way, and under a burst a wait for the thread to get the CPU and the interpreter lock back).
An async connection is used from the loop itself: the opening's two statements are two awaits.

Connections are made with Django's own parameters for the default database (`get_connection_params`: the
same server, database, options, and the adapters that load JSON as text and timestamps in the connection's
time zone, as the ORM's converters expect), in autocommit, as Django runs outside a transaction, and with the
session time zone Django sets on its own (`timezone_name`: UTC with USE_TZ). Django's other set-up, the role
of OPTIONS["assume_role"], is not repeated: with it configured, `usable()` says no and openings go the
thread's way, on Django's connections. Connecting gives up after `CONNECT_TIMEOUT_S` (unless OPTIONS name
a `connect_timeout`), so an unreachable server holds the loop's few slots seconds, not a TCP timeout.

Kept as Django keeps its own: when the deployment pools connections (`DB_POOL_MAX_SIZE`), each event loop
keeps the async connections it made for the next openings (no connection set-up in a burst), each up to the
pool's `max_lifetime` (psycopg_pool's one hour unless set), as the pool retires its own; otherwise each
opening connects and closes, as a Django request does without persistent connections (and a test database
can be dropped at the end of the run). At most `size` openings of a loop hold a connection at once; the
others wait for one, first come first served. A pooled deployment's workers make, as they start, the
connections the openings hold at once (`stream_opening.LOOP_CONNECTIONS_USED`, at most `size`;
`_Lender.warm`, from `live.stream_app`'s lifespan), as the pool opens its minimum.

A kept connection is not checked before it is lent (Django's CONN_HEALTH_CHECKS costs a statement): a
broken one fails the statement it is lent for, which is then retried once on a new connection when the
caller says a retry is safe (`first`: a read, or the claims, which change only battles still pending).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator

import psycopg
from django.db import connections

_LENDERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lender] = weakref.WeakKeyDictionary()
# When each connection was made (time.monotonic()), to retire kept ones as the pool retires its own.
_BORN: weakref.WeakKeyDictionary[psycopg.AsyncConnection, float] = weakref.WeakKeyDictionary()


CONNECT_TIMEOUT_S = 5
# Django's connection set-up these connections do not repeat (see the module doc).
_UNSUPPORTED_OPTIONS = ("assume_role",)
_POOL_MAX_LIFETIME_S = 3600.0  # psycopg_pool's default max_lifetime


def _options() -> dict:
    return connections.settings["default"].get("OPTIONS", {})


def _pooled() -> bool:
    return bool(_options().get("pool"))


def usable() -> bool:
    """Whether these connections are set up as Django would set up its own for this database."""
    return not any(_options().get(name) for name in _UNSUPPORTED_OPTIONS)


def _max_age() -> float:
    pool = _options().get("pool")
    found = pool.get("max_lifetime") if isinstance(pool, dict) else None
    return float(found) if found is not None else _POOL_MAX_LIFETIME_S


async def _connect() -> psycopg.AsyncConnection:
    django_connection = connections["default"]
    params = django_connection.get_connection_params()
    params.pop("cursor_factory", None)  # Django's is a sync cursor
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
    timezone_name = django_connection.timezone_name  # as Django's `_configure_timezone`
    if timezone_name and connection.info.parameter_status("TimeZone") != timezone_name:
        await connection.execute(django_connection.ops.set_time_zone_sql(), [timezone_name])
    _BORN[connection] = time.monotonic()
    return connection


class _Lender:
    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = asyncio.Semaphore(size)
        self.idle: list[psycopg.AsyncConnection] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Lent]:
        async with self.slots:
            lent = Lent(self.idle.pop() if self.idle else None)
            try:
                yield lent
            finally:
                await self._give_back(lent.connection)

    async def warm(self, count: int) -> None:
        """Make `count` (at most `size`) connections and keep them for the loop's openings (a pool's minimum
        size, as psycopg_pool opens its own at start): a burst of openings then finds them made."""
        if not _pooled():
            return
        wanted = min(count, self.size) - len(self.idle)

        async def keep() -> None:  # kept as soon as made: a warm-up cut short keeps (and later closes) it
            self.idle.append(await _connect())

        made = await asyncio.gather(*(keep() for _ in range(wanted)), return_exceptions=True)
        failures = [each for each in made if isinstance(each, BaseException)]
        if failures:
            raise failures[0]

    async def close(self) -> None:
        """Close the kept connections (the worker is stopping)."""
        idle, self.idle = self.idle, []
        await asyncio.gather(*(each.close() for each in idle), return_exceptions=True)

    async def _give_back(self, connection: psycopg.AsyncConnection | None) -> None:
        if connection is None or connection.closed:
            return
        idle = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        young = time.monotonic() - _BORN.get(connection, 0.0) < _max_age()
        if idle and young and _pooled():
            self.idle.append(connection)
        else:
            await connection.close()


class Lent:
    """A connection lent to one opening: made on first use, or kept from an earlier one."""

    def __init__(self, kept: psycopg.AsyncConnection | None) -> None:
        self.connection = kept
        self._kept = kept is not None

    async def fetchone(self, sql: str, params: list, *, first: bool = False) -> tuple | None:
        """Run one statement and return its first row. `first`: a statement safe to run twice (a read, or
        one guarded by the row's state), retried on a new connection when a kept one turns out broken (a
        database restart)."""
        return await (await self._execute(sql, params, first=first)).fetchone()

    async def fetchall(self, sql: str, params: list, *, first: bool = False) -> list[tuple]:
        """Run one statement and return its rows (`first` as for `fetchone`)."""
        return await (await self._execute(sql, params, first=first)).fetchall()

    async def _execute(self, sql: str, params: list, *, first: bool) -> psycopg.AsyncCursor:
        if self.connection is None:
            self.connection = await _connect()
        try:
            cursor = await self.connection.execute(sql, params)
        except psycopg.OperationalError:
            if not (first and self._kept):
                raise
            await self.connection.close()
            self.connection, self._kept = await _connect(), False
            cursor = await self.connection.execute(sql, params)
        return cursor


def lender(size: int) -> _Lender:
    """This event loop's lender (connections and their waiters belong to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    found = _LENDERS.get(loop)
    if found is None:
        found = _LENDERS[loop] = _Lender(size)
    return found


async def lender_close() -> None:
    """Close this event loop's kept connections, if it has a lender."""
    found = _LENDERS.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()
