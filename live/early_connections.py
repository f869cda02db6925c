"""Connections to a battle's endpoints, opened while its stream's opening reads the session, user and claim.

After the claim, a stream's first token waits for both provider calls to connect to their endpoints: under a
burst of openings those connects queued behind the other openings woken by the same claim batch (in
bench_live_streams, 2026-12-06 #5, they began ~100 ms after the openings ended on the busy worker, and each
took several turns of its event loop). Here the battle's endpoints are read by token beside the session read
(`live.services.battles.endpoints_statement`, pending battles only) and both connections are made while the
user read and the claim are out, when the worker's loop mostly waits. Nothing is sent on them until the
claim succeeded and the calls passed their checks (`live.streaming.side_calls`): then each call takes the
connection made for its endpoint (same base URL, same address rule) and `turn_events` sends its request at
once. A connection nobody takes (the claim failed, the person left, another endpoint since) is closed unused.

The connections follow the stream's own rules (`judges.providers.chat_stream.connect_early`): the address
checked by `endpoint_address_checked` is the one connected to, TLS checks the name. A failed early connect
is dropped silently: the call then connects as before, and reports what it meets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from judges.providers.chat_stream import EarlyConnection, connect_early
from judges.providers.openai_compat import normalise_base_url
from live.streaming import SideCall

logger = logging.getLogger(__name__)

# The address rule of every side call (`live.streaming._side_call`): submitters' endpoints, public only.
PUBLIC_ADDRESSES_ONLY = True


class EarlyConnections:
    """One opening's early connections: started at once (a task), handed to the calls (`attach`) or closed
    (`close`); both idempotent, and together they leave nothing open."""

    def __init__(self, token: str, endpoints_of: Callable[[str], Awaitable[tuple[str, str] | None]]) -> None:
        self._made: list[EarlyConnection] = []
        self._closed = False
        self._task = asyncio.create_task(self._open(token, endpoints_of))

    async def _open(
        self, token: str, endpoints_of: Callable[[str], Awaitable[tuple[str, str] | None]]
    ) -> None:
        try:
            urls = await endpoints_of(token)
        except Exception as exc:  # noqa: BLE001  # only a head start lost: the calls connect themselves
            logger.debug("the endpoints of live battle %s were not read early: %s", token[:6], exc)
            return
        if not urls:
            return  # no pending battle with this token: the claim will say what there is
        await asyncio.gather(*(self._one(url) for url in urls if url), return_exceptions=True)

    async def _one(self, url: str) -> None:
        early = await connect_early(normalise_base_url(url), public_addresses_only=PUBLIC_ADDRESSES_ONLY)
        if self._closed:  # made after the opening was done with them
            early.close()
        else:
            self._made.append(early)

    def attach(self, calls: list[SideCall]) -> list[SideCall]:
        """`calls`, each with a connection made for its endpoint when one is ready (else it connects itself
        as before); every other connection is closed, and any still being made is abandoned."""
        found = []
        for call in calls:
            if call.request is not None:
                base_url = normalise_base_url(call.request.base_url)
                early = next((each for each in self._made if each.fits(call.request, base_url)), None)
                if early is not None:
                    self._made.remove(early)
                    call = dataclasses.replace(call, early=early)
            found.append(call)
        self.close()
        return found

    def close(self) -> None:
        """Close every connection not handed to a call, and stop making more."""
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(Exception):
            for early in self._made:
                early.close()
        self._made.clear()
