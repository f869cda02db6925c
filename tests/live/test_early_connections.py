"""Connections to a battle's endpoints opened during its stream's opening (live.early_connections): made
while the claim is out, the request sent on them only after the claim succeeded, closed unused (nothing sent)
when the claim fails or the person left; a stream on them streams as before."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections

from arena.errors import Forbidden
from live import stream_opening
from live.models import LiveBattle
from live.services.battles import live_battle_start
from live.stream_opening import Left, stream_open_async
from live.streaming import calls_close, turn_events
from tests.live.test_stream_opening import _cookie, _request, stub  # noqa: F401  # the fixture
from tests.support import factories
from tests.support.event_loop import run_coroutine

pytestmark = pytest.mark.django_db(transaction=True)  # the loop's own connections see committed rows only

SIZE = 4
WAIT_S = 5.0  # the longest a test waits for an event that should come at once


@dataclass
class Accepted:
    data: bytearray = field(default_factory=bytearray)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class Endpoint:
    """A loopback TCP server that records what each connection sent until the client closed it; it never
    answers (the opening's part ends before any answer)."""

    def __init__(self) -> None:
        self.accepted: list[Accepted] = []
        self.two = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = Accepted()
        self.accepted.append(accepted)
        if len(self.accepted) >= 2:
            self.two.set()
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                accepted.data += chunk
        accepted.closed.set()
        writer.close()

    async def all_closed(self) -> None:
        await asyncio.wait_for(asyncio.gather(*(each.closed.wait() for each in self.accepted)), WAIT_S)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def _opening(token: str, cookie: str, gone=lambda: False):
    async with ThreadSensitiveContext():
        try:
            return await stream_open_async(_request(token, cookie), token, gone=gone, size=SIZE)
        finally:
            await sync_to_async(close_old_connections)()


def _claims_wait_for_connections(monkeypatch, endpoint_of) -> list[int]:
    """Each claim statement first waits (up to WAIT_S) for the endpoint to have accepted two connections, and
    records how many it had, and how many bytes they had received, when the claim went."""
    claims = stream_opening._LoopState._claims
    seen: list[int] = []

    async def waiting(self, wanted):
        endpoint = endpoint_of()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(endpoint.two.wait(), WAIT_S)
        seen.append(len(endpoint.accepted))
        seen.append(sum(len(each.data) for each in endpoint.accepted))
        return await claims(self, wanted)

    monkeypatch.setattr(stream_opening._LoopState, "_claims", waiting)
    return seen


@pytest.fixture
def arena(settings, stub):  # noqa: F811  # the stub fixture's settings; the contenders point elsewhere
    factories.fresh_rate_limits(settings)


def _point_contenders_at(url: str) -> None:
    from arena.models import Contender

    Contender.objects.filter(slug__startswith="live-model-").update(endpoint_url=url)


def test_both_endpoints_are_connected_while_the_claim_is_out_and_nothing_is_sent_before_the_stream(
    arena, monkeypatch
):
    endpoint = Endpoint()
    seen = _claims_wait_for_connections(monkeypatch, lambda: endpoint)
    owner = factories.make_user("early-owner")
    battle = live_battle_start(voter=factories.voter_of(owner), text="Hello?")
    cookie = _cookie(owner)

    async def scenario():
        await sync_to_async(_point_contenders_at)(await endpoint.start())
        claimed, calls = await _opening(battle.token, cookie)
        assert claimed.pk == battle.pk
        used = [call.early is not None for call in calls]
        sent_after_opening = sum(len(each.data) for each in endpoint.accepted)
        calls_close(calls)
        await endpoint.all_closed()
        await endpoint.stop()
        return used, sent_after_opening

    used, sent_after_opening = run_coroutine(scenario())
    # When the claim went, both connections had been accepted, and no byte had been sent on them.
    assert seen == [2, 0], f"(connections accepted, bytes received) when the claim went: {seen}"
    assert used == [True, True], "each call should take the connection made for its endpoint"
    assert sent_after_opening == 0, "the request is sent when the stream starts, not by the opening"


def test_a_claim_that_fails_leaves_the_connections_closed_with_nothing_sent(arena, monkeypatch):
    endpoint = Endpoint()
    seen = _claims_wait_for_connections(monkeypatch, lambda: endpoint)
    owner, intruder = factories.make_user("early-owner"), factories.make_user("early-intruder")
    battle = live_battle_start(voter=factories.voter_of(owner), text="Hello?")
    cookie = _cookie(intruder)

    async def scenario():
        await sync_to_async(_point_contenders_at)(await endpoint.start())
        with pytest.raises(Forbidden):
            await _opening(battle.token, cookie)
        await endpoint.all_closed()
        await endpoint.stop()
        return [bytes(each.data) for each in endpoint.accepted]

    received = run_coroutine(scenario())
    assert seen[0] == 2, f"the connections are made while the claim is out: {seen}"
    assert received == [b"", b""], "closed, and nothing sent on them"
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING


def test_an_opening_whose_tab_closed_before_its_claim_sends_nothing_and_closes_them(arena, monkeypatch):
    endpoint = Endpoint()
    owner = factories.make_user("early-owner")
    battle = live_battle_start(voter=factories.voter_of(owner), text="Hello?")
    cookie = _cookie(owner)
    users = stream_opening._LoopState._users

    async def users_after_connections(self, pks):  # the tab closes once both connections are made
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(endpoint.two.wait(), WAIT_S)
        return await users(self, pks)

    monkeypatch.setattr(stream_opening._LoopState, "_users", users_after_connections)

    async def scenario():
        await sync_to_async(_point_contenders_at)(await endpoint.start())
        with pytest.raises(Left):
            await _opening(battle.token, cookie, gone=lambda: endpoint.two.is_set())
        await endpoint.all_closed()
        await endpoint.stop()
        return [bytes(each.data) for each in endpoint.accepted]

    received = run_coroutine(scenario())
    assert received == [b"", b""], "made, then closed with nothing sent"
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING


def test_an_opening_cancelled_while_its_claim_waits_closes_them_with_nothing_sent(arena, monkeypatch):
    endpoint = Endpoint()
    owner = factories.make_user("early-owner")
    battle = live_battle_start(voter=factories.voter_of(owner), text="Hello?")
    cookie = _cookie(owner)
    claims = stream_opening._LoopState._claims

    async def scenario():
        waiting = asyncio.Event()

        async def slow_claims(self, wanted):
            waiting.set()
            await asyncio.sleep(WAIT_S)
            return await claims(self, wanted)

        monkeypatch.setattr(stream_opening._LoopState, "_claims", slow_claims)
        await sync_to_async(_point_contenders_at)(await endpoint.start())
        opening = asyncio.create_task(_opening(battle.token, cookie))
        await asyncio.wait_for(asyncio.gather(waiting.wait(), endpoint.two.wait()), WAIT_S)
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        await endpoint.all_closed()
        await endpoint.stop()
        return [bytes(each.data) for each in endpoint.accepted]

    received = run_coroutine(scenario())
    assert received == [b"", b""], "made, then closed with nothing sent"


def test_a_stream_on_the_early_connections_streams_both_answers_and_sends_each_request_once(arena, stub):  # noqa: F811
    owner = factories.make_user("early-owner")
    battle = live_battle_start(voter=factories.voter_of(owner), text="Hello?")
    cookie = _cookie(owner)

    async def scenario():
        claimed, calls = await _opening(battle.token, cookie)
        used = [call.early is not None for call in calls]
        events = b"".join([event async for event in turn_events(claimed, calls)])
        return used, events

    used, events = run_coroutine(scenario())
    assert used == [True, True]
    assert events.count(b"event: side\n") == 2 and b'"state": "ready"' in events
    chat = [each for each in stub.requests if each.path.endswith("/chat/completions")]
    assert len(chat) == 2, f"one request per side, got {len(chat)}"
    assert len({each.client_port for each in chat}) == 2, "each on a connection of its own"
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.READY
