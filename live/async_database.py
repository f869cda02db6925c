"""PostgreSQL connections for the event loop: psycopg's async connections, for the streams' openings.

Django's connections belong to threads, so an opening that used them left the event loop for a thread (a
hand-over each way, and under a burst a wait for the thread to get the CPU and the interpreter lock back).
An async connection is used from the loop itself: the opening's two statements are two awaits.

Connections are made with Django's own parameters for the default database (`get_connection_params`: the
same server, database, options, and the adapters that load JSON as text and timestamps in the connection's
time zone, as the ORM's converters expect), in autocommit, as Django runs outside a transaction.

Kept as Django keeps its own: when the deployment pools connections (`DB_POOL_MAX_SIZE`), each event loop
keeps the async connections it made for the next openings (no connection set-up in a burst); otherwise each
opening connects and closes, as a Django request does without persistent connections (and a test database
can be dropped at the end of the run). At most `size` openings of a loop hold a connection at once; the
others wait for one, first come first served.

A kept connection is not checked before it is lent (Django's CONN_HEALTH_CHECKS costs a statement): a
broken one fails the opening's first statement, a read, which is then retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

import psycopg
from django.db import connections

_LENDERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lender] = weakref.WeakKeyDictionary()


def _pooled() -> bool:
    return bool(connections.settings["default"].get("OPTIONS", {}).get("pool"))


async def _connect() -> psycopg.AsyncConnection:
    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)  # Django's is a sync cursor
    return await psycopg.AsyncConnection.connect(**params, autocommit=True)


class _Lender:
    def __init__(self, size: int) -> None:
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

    async def _give_back(self, connection: psycopg.AsyncConnection | None) -> None:
        if connection is None or connection.closed:
            return
        idle = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if idle and _pooled():
            self.idle.append(connection)
        else:
            await connection.close()


class Lent:
    """A connection lent to one opening: made on first use, or kept from an earlier one."""

    def __init__(self, kept: psycopg.AsyncConnection | None) -> None:
        self.connection = kept
        self._kept = kept is not None

    async def fetchone(self, sql: str, params: list, *, first: bool = False) -> tuple | None:
        """Run one statement and return its first row. `first`: the opening's first statement, a read,
        retried on a new connection when a kept one turns out broken (a database restart)."""
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
        return await cursor.fetchone()


def lender(size: int) -> _Lender:
    """This event loop's lender (connections and their waiters belong to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    found = _LENDERS.get(loop)
    if found is None:
        found = _LENDERS[loop] = _Lender(size)
    return found
