"""A worker's start readies what its first burst of openings would otherwise pay for inside the burst: each
connection the loop keeps runs the openings' two statements once, changing nothing (`stream_opening.rehearse`),
and what the first opening would find and keep per process is found as the application loads
(`stream_app._warm_up`)."""

from __future__ import annotations

import pytest
from django.db import connections

from judges.providers import get_provider
from live import async_database, stream_app, stream_opening, streaming
from live.models import LiveBattle
from live.services import battles as battle_services
from live.services.battles import live_battle_start
from tests.live.test_stream_opening import stub  # noqa: F401  # the fixture
from tests.support import factories
from tests.support.event_loop import run_coroutine

pytestmark = pytest.mark.django_db(transaction=True)  # the loop's own connections see committed rows only

SIZE = 4


def _statements_run(monkeypatch) -> list[tuple[int, str, list]]:
    """(server process, SQL, parameters) of every statement the loop's connections run, as they run it."""
    fetchall = async_database.Lent.fetchall
    run: list[tuple[int, str, list]] = []

    async def recorded(self, sql, params, **kwargs):
        rows = await fetchall(self, sql, params, **kwargs)
        run.append((self.connection.info.backend_pid, sql, params))
        return rows

    monkeypatch.setattr(async_database.Lent, "fetchall", recorded)
    return run


def test_the_workers_start_runs_the_openings_statements_on_each_kept_connection_and_changes_nothing(
    stub,  # noqa: F811
    monkeypatch,
):
    monkeypatch.setattr(async_database, "_pooled", lambda: True)  # compose's web service pools connections
    run = _statements_run(monkeypatch)
    user = factories.make_user("warm-up")
    battle = live_battle_start(voter=factories.voter_of(user), text="Q?")
    before = LiveBattle.objects.values_list("state", "updated").get(pk=battle.pk)

    async def start():
        try:
            await stream_opening.warm(SIZE)
            return {each.info.backend_pid for each in async_database.lender(SIZE).idle}
        finally:
            await stream_opening.close()

    kept = run_coroutine(start())
    assert len(kept) == stream_opening.LOOP_CONNECTIONS_USED
    users_sql, claims_sql = stream_opening._users_sql(), battle_services._claims_sql()
    assert {pid for pid, sql, _ in run if sql == users_sql} == kept
    assert {pid for pid, sql, _ in run if sql == claims_sql} == kept
    assert all(params[:2] == [[], []] for _, sql, params in run if sql == claims_sql)  # no battle asked for
    assert LiveBattle.objects.values_list("state", "updated").get(pk=battle.pk) == before


def test_without_kept_connections_the_start_runs_no_statement(stub, monkeypatch):  # noqa: F811
    """Unpooled, each opening connects anew (and pays the first run anyway): nothing to ready."""
    monkeypatch.setattr(async_database, "_pooled", lambda: False)
    run = _statements_run(monkeypatch)

    async def start():
        try:
            await stream_opening.warm(SIZE)
        finally:
            await stream_opening.close()

    run_coroutine(start())
    assert run == []


def test_a_rehearsal_that_fails_is_logged_as_such_and_keeps_the_connections(
    stub,  # noqa: F811
    monkeypatch,
    caplog,
):
    """A table not migrated yet or a read-only database refuses the rehearsal: the connections are made, so
    the log must not say they could not be, and the worker's start goes on with them kept."""
    monkeypatch.setattr(async_database, "_pooled", lambda: True)

    async def refused(size):
        raise RuntimeError("relation does not exist")

    monkeypatch.setattr(stream_opening, "rehearse", refused)

    async def start():
        try:
            await stream_opening.warm(SIZE)
            return len(async_database.lender(SIZE).idle)
        finally:
            await stream_opening.close()

    with caplog.at_level("WARNING", logger="live.stream_opening"):
        kept = run_coroutine(start())
    assert kept == stream_opening.LOOP_CONNECTIONS_USED
    assert [r.getMessage() for r in caplog.records if r.name == "live.stream_opening"] == [
        "the live openings' statements could not be rehearsed at start (their connections are kept)"
    ]


def test_loading_the_application_finds_what_the_first_opening_would(monkeypatch):
    monkeypatch.setattr(stream_app, "_HEADERS", {})
    monkeypatch.setattr(streaming, "_STREAMS", {})
    monkeypatch.setattr(battle_services, "_CONVERSIONS", {})
    stream_app._security.cache_clear()

    stream_app._warm_up()

    assert stream_app._security.cache_info().currsize == 1
    assert False in stream_app._HEADERS  # the plain HTTP request's headers
    # Read without calling streaming_provider(), which would fill the cache itself.
    assert {type(get_provider(streaming.PROVIDER)): True} == streaming._STREAMS
    vendor = connections["default"].vendor
    assert set(battle_services._CONVERSIONS) == {
        (LiveBattle, vendor),
        (battle_services.Contender, vendor),
    }
