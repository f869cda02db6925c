"""The loop's opening under bursts (live.stream_opening with live.coalescing): an opening that leaves while its
claim waits in the queue claims nothing, two tabs of one battle in one coalesced claim get it once, a database
restart does not fail the claims, and a stalled round trip gives up instead of holding every opening."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections, connection

from live import async_database, stream_opening
from live.models import LiveBattle
from live.services.battles import live_battle_start
from live.stream_opening import Left, Unsettled, stream_open_async
from tests.live.test_stream_opening import _cookie, _request, stub  # noqa: F401  # the fixture
from tests.support import factories
from tests.support.event_loop import run_coroutine

pytestmark = pytest.mark.django_db(transaction=True)  # the loop's own connections see committed rows only

SIZE = 4


def _slowed(monkeypatch, marker: str, delay: float, *, times: int = 1) -> list[list]:
    """The first `times` statements containing `marker` wait `delay` s before going (a slow round trip on a
    loaded server); returns the parameters of every statement containing it, as sent."""
    fetchall = async_database.Lent.fetchall
    sent: list[list] = []

    async def slow(self, sql, params, **kwargs):
        if marker in sql:
            sent.append(params)
            if len(sent) <= times:
                await asyncio.sleep(delay)
        return await fetchall(self, sql, params, **kwargs)

    monkeypatch.setattr(async_database.Lent, "fetchall", slow)
    return sent


async def _one(token: str, cookie: str, gone=lambda: False):
    async with ThreadSensitiveContext():
        try:
            return await stream_open_async(_request(token, cookie), token, gone=gone, size=SIZE)
        finally:
            await sync_to_async(close_old_connections)()


def _battles(prefix: str, count: int) -> tuple[list[LiveBattle], list[str]]:
    users = [factories.make_user(f"{prefix}-{i}") for i in range(count)]
    battles = [live_battle_start(voter=factories.voter_of(user), text="Q?") for user in users]
    return battles, [_cookie(user) for user in users]


def _state(battle: LiveBattle) -> str:
    battle.refresh_from_db()
    return battle.state


def test_an_opening_cancelled_while_its_claim_waits_claims_nothing(stub, monkeypatch):  # noqa: F811
    _slowed(monkeypatch, "unnest", 0.5)
    battles, cookies = _battles("cancelled", 2)

    async def burst():
        first = asyncio.ensure_future(_one(battles[0].token, cookies[0]))
        await asyncio.sleep(0.2)  # its claim is out (slow)
        second = asyncio.ensure_future(_one(battles[1].token, cookies[1]))
        await asyncio.sleep(0.1)  # the second's claim waits behind it
        second.cancel()  # the server cancels the stream's task (its worker stopping, say)
        answers = await asyncio.gather(first, second, return_exceptions=True)
        await asyncio.sleep(0.3)  # the loop goes on: any claim still queued would go now
        return answers

    first, second = run_coroutine(burst())
    assert isinstance(first, tuple) and isinstance(second, asyncio.CancelledError)
    assert _state(battles[0]) == LiveBattle.State.STREAMING
    assert _state(battles[1]) == LiveBattle.State.PENDING


def test_a_tab_closed_while_its_claim_waits_in_the_queue_claims_nothing(stub, monkeypatch):  # noqa: F811
    sent = _slowed(monkeypatch, "unnest", 0.5)
    battles, cookies = _battles("left", 3)
    left = {"now": False}

    async def burst():
        first = asyncio.ensure_future(_one(battles[0].token, cookies[0], gone=lambda: left["now"]))
        await asyncio.sleep(0.2)  # its claim is out
        leaving = asyncio.ensure_future(_one(battles[1].token, cookies[1], gone=lambda: left["now"]))
        staying = asyncio.ensure_future(_one(battles[2].token, cookies[2]))
        await asyncio.sleep(0.1)  # both claims wait in the queue, past their own `gone()` check
        left["now"] = True  # the tabs of the first and the second close
        return await asyncio.gather(first, leaving, staying, return_exceptions=True)

    first, leaving, staying = run_coroutine(burst())
    assert isinstance(first, tuple) and isinstance(staying, tuple)  # the first's claim had gone out
    assert isinstance(leaving, Left), leaving
    assert _state(battles[1]) == LiveBattle.State.PENDING
    assert [tokens for tokens, *_ in sent] == [[battles[0].token], [battles[2].token]]


def test_two_tabs_of_one_battle_in_one_coalesced_claim_get_it_once(stub, monkeypatch):  # noqa: F811
    sent = _slowed(monkeypatch, "unnest", 0.3)
    battles, cookies = _battles("tabs", 2)

    async def burst():
        first = asyncio.ensure_future(_one(battles[0].token, cookies[0]))
        await asyncio.sleep(0.15)  # its claim is out: both tabs' claims wait for the next one
        tabs = [asyncio.ensure_future(_one(battles[1].token, cookies[1])) for _ in range(2)]
        return await asyncio.gather(first, *tabs, return_exceptions=True)

    first, *tabs = run_coroutine(burst())
    assert isinstance(first, tuple)
    assert len(sent) == 2 and set(sent[1][0]) == {battles[1].token}  # one claim request for both tabs
    assert sorted(type(answer).__name__ for answer in tabs) == ["NoneType", "tuple"], tabs
    assert _state(battles[1]) == LiveBattle.State.STREAMING


def _terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    close_old_connections()


@pytest.mark.parametrize("overlap", [False, True], ids=["burst", "users-and-claims-overlap"])
def test_claims_on_kept_connections_broken_by_a_database_restart_are_retried(stub, monkeypatch, overlap):  # noqa: F811
    """A database restart breaks the loop's kept connections: the openings' first statements on them (their
    users' reads and their claims alike) go again on new connections instead of failing every opening."""
    monkeypatch.setattr(async_database, "_pooled", lambda: True)
    if overlap:  # a users' read holding its connection while the claim takes the other, broken one
        _slowed(monkeypatch, "ANY", 0.3)
    battles, cookies = _battles(f"restart-{overlap}", 2 if overlap else 12)

    async def run():
        try:
            await stream_opening.warm(SIZE)
            kept = list(async_database.lender(SIZE).idle)
            assert len(kept) == stream_opening.LOOP_CONNECTIONS_USED
            await sync_to_async(_terminate)([each.info.backend_pid for each in kept])
            await asyncio.sleep(0.2)  # the server has closed them
            openings = []
            for battle, cookie in zip(battles, cookies, strict=True):
                openings.append(asyncio.ensure_future(_one(battle.token, cookie)))
                await asyncio.sleep(0.1 if overlap else 0)
            return await asyncio.gather(*openings, return_exceptions=True)
        finally:
            await stream_opening.close()

    answers = run_coroutine(run())
    assert all(isinstance(answer, tuple) for answer in answers), answers
    assert {_state(battle) for battle in battles} == {LiveBattle.State.STREAMING}


def test_a_claim_with_no_answer_in_time_fails_and_claims_nothing(stub, monkeypatch):  # noqa: F811
    """A stalled claims' round trip gives up after BATCH_TIMEOUT_S (its openings answered 503 by the route)
    and the next claims still go: one stalled round trip does not hold every opening of the worker."""
    monkeypatch.setattr(stream_opening, "BATCH_TIMEOUT_S", 0.2)
    _slowed(monkeypatch, "unnest", 30)  # the first claim never comes back (cancelled before it is sent)
    battles, cookies = _battles("stalled", 2)

    async def burst():
        stalled = asyncio.ensure_future(_one(battles[0].token, cookies[0]))
        await asyncio.sleep(0.05)
        later = asyncio.ensure_future(_one(battles[1].token, cookies[1]))
        return await asyncio.wait_for(asyncio.gather(stalled, later, return_exceptions=True), 10)

    stalled, later = run_coroutine(burst())
    assert isinstance(stalled, TimeoutError) and isinstance(later, tuple)
    assert _state(battles[0]) == LiveBattle.State.PENDING
    assert _state(battles[1]) == LiveBattle.State.STREAMING


def test_a_users_read_with_no_answer_in_time_goes_djangos_way(stub, monkeypatch):  # noqa: F811
    monkeypatch.setattr(stream_opening, "BATCH_TIMEOUT_S", 0.2)
    _slowed(monkeypatch, "ANY", 30)
    battles, cookies = _battles("slow-user", 1)

    async def run():
        return await asyncio.wait_for(
            asyncio.gather(_one(battles[0].token, cookies[0]), return_exceptions=True), 10
        )

    (answer,) = run_coroutine(run())
    assert isinstance(answer, Unsettled)  # the route then opens it in a thread, as Django would
    assert _state(battles[0]) == LiveBattle.State.PENDING
