"""The event loop's own PostgreSQL connections (live.async_database): set up as Django sets up its own, or not
used at all; a bounded wait for an unreachable server; kept connections retired with age."""

from __future__ import annotations

import asyncio
import socket

import psycopg
import pytest
from django.db import connections

from live import async_database, stream_opening
from tests.support.event_loop import run_coroutine

pytestmark = pytest.mark.django_db


@pytest.fixture
def db_settings():
    """The default database's settings, put back as they were after the test."""
    found = connections.settings["default"]
    kept = {**found, "OPTIONS": dict(found.get("OPTIONS", {}))}
    yield found
    found.clear()
    found.update(kept)


def _show_time_zone() -> str:
    async def show() -> str:
        connection = await async_database._connect()
        try:
            cursor = await connection.execute("SHOW TimeZone")
            row = await cursor.fetchone()
            assert row is not None
            return row[0]
        finally:
            await connection.close()

    return run_coroutine(show())


def test_a_connection_gets_djangos_session_time_zone(db_settings):
    # A server (or role) whose own default is another zone: Django sets UTC on its connections, so must this.
    db_settings["OPTIONS"]["options"] = "-c TimeZone=Europe/Paris"
    assert _show_time_zone() == "UTC"


def test_with_a_role_to_assume_openings_go_the_threads_way(db_settings):
    assert stream_opening.applies()
    db_settings["OPTIONS"]["assume_role"] = "arena_owner"  # Django's set-up these connections do not repeat
    assert not async_database.usable() and not stream_opening.applies()


def test_connecting_to_a_server_that_never_answers_gives_up_after_the_timeout(db_settings, monkeypatch):
    monkeypatch.setattr(async_database, "CONNECT_TIMEOUT_S", 2)  # libpq's least
    with socket.socket() as silent:  # accepts the TCP connection (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        db_settings["HOST"], db_settings["PORT"] = "127.0.0.1", str(silent.getsockname()[1])

        async def connect() -> None:
            async with asyncio.timeout(10):  # without a connect timeout: waits for ever
                await async_database._connect()

        with pytest.raises(psycopg.OperationalError, match="timeout"):
            run_coroutine(connect())


def test_a_kept_connection_is_lent_again_until_it_is_too_old_then_closed(monkeypatch):
    monkeypatch.setattr(async_database, "_pooled", lambda: True)

    async def lend_twice():
        lender = async_database._Lender(1)
        async with lender.connection() as lent:
            await lent.fetchone("SELECT 1", [])
        kept = list(lender.idle)
        monkeypatch.setattr(async_database, "_max_age", lambda: 0.0)
        async with lender.connection() as lent:
            await lent.fetchone("SELECT 1", [])
            again = lent.connection
        return kept, again, list(lender.idle)

    kept, again, idle = run_coroutine(lend_twice())
    assert len(kept) == 1 and again is kept[0]  # young: kept, and lent to the next opening
    assert idle == [] and again is not None and again.closed  # too old: closed when given back


def test_a_warm_up_cut_short_keeps_the_connections_it_made_so_they_are_closed_at_stop(monkeypatch):
    """The worker's start gives the warm-up a time limit: a connection made before the limit is kept (and
    closed with the others at stop), not dropped half-made, neither kept nor closed."""
    monkeypatch.setattr(async_database, "_pooled", lambda: True)
    connect = async_database._connect
    calls = {"n": 0}

    async def second_never_answers() -> psycopg.AsyncConnection:
        calls["n"] += 1
        if calls["n"] > 1:
            await asyncio.sleep(30)  # a connection that hangs (cancelled by the limit)
        return await connect()

    monkeypatch.setattr(async_database, "_connect", second_never_answers)

    async def start_and_stop():
        lender = async_database._Lender(4)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2):  # far above one connection's set-up on the test server
                await lender.warm(2)
        kept = list(lender.idle)
        await lender.close()
        return kept

    kept = run_coroutine(start_and_stop())
    assert len(kept) == 1 and kept[0].closed


def test_a_statement_cut_short_by_a_time_limit_leaves_no_busy_connection_kept(monkeypatch):
    """A coalesced request that times out (`stream_opening.BATCH_TIMEOUT_S`) is cancelled mid-statement: the
    connection it held is closed, or kept only when it is idle and answers the next statement."""
    monkeypatch.setattr(async_database, "_pooled", lambda: True)

    async def stalled_then_next():
        lender = async_database._Lender(1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3), lender.connection() as lent:
                await lent.fetchone("SELECT pg_sleep(30)", [])
        kept = list(lender.idle)
        async with asyncio.timeout(10), lender.connection() as lent:  # 10 s: far above one SELECT
            row = await lent.fetchone("SELECT 1", [])
        await lender.close()
        return kept, row

    kept, row = run_coroutine(stalled_then_next())
    assert row == (1,)
    assert all(each.closed for each in kept)
