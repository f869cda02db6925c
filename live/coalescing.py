"""Many openings' look-ups of one kind made as one request: a burst's fifty reads become a few.

Fifty streams opening at once each read a session from Redis and a user and a claim from PostgreSQL: fifty
round trips of each kind, each with its fixed cost in the worker, the driver and the server (parse, plan,
a wake-up on both sides), queued behind a few connections. A `Coalescer` takes the keys asked while its
previous request is out and sends them together (Redis MGET, PostgreSQL `= ANY` / `unnest`): under a burst
the openings share a handful of round trips; alone, an opening's request goes out at once, as before.

What an asker asks holds only while it waits: an asker cancelled meanwhile (its stream gone) is left out of
the next request, and an asker's own `gone` check is made as its request is sent (a claim for a tab closed
while it queued claims nothing). One request out at a time means one stalled round trip would hold every
later asker: each request has `timeout` seconds, after which its askers fail and the next one goes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Gone(Exception):
    """The asker's `gone` check said it left before its key was sent: its key was not sent."""


class Coalescer(Generic[K, V]):
    """`ask(key)` answers with `run(keys)`'s answer for that key; keys asked while a request is out go in the
    next one (at most `most` per request), one request out at a time. A failed request fails each of its
    askers with its exception; one taking longer than `timeout` seconds fails them with TimeoutError."""

    def __init__(self, run: Callable[[list[K]], Awaitable[list[V]]], *, most: int, timeout: float) -> None:
        self._run = run
        self._most = most
        self._timeout = timeout
        self._waiting: deque[tuple[K, asyncio.Future[V], Callable[[], bool] | None]] = deque()
        self._sender: asyncio.Task | None = None

    async def ask(self, key: K, *, gone: Callable[[], bool] | None = None) -> V:
        """`key`'s answer. `gone`, when given, is asked just before the key is sent: if it says yes, the key
        is not sent and `ask` raises `Gone`."""
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, future, gone))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await future

    def _take(self) -> list[tuple[K, asyncio.Future[V]]]:
        """The next request's askers: those still waiting whose `gone` says no (the others are answered)."""
        batch: list[tuple[K, asyncio.Future[V]]] = []
        while self._waiting and len(batch) < self._most:
            key, future, gone = self._waiting.popleft()
            if future.done():  # the asker was cancelled: nobody waits for this key
                continue
            try:
                left = gone is not None and gone()
            except Exception as exc:  # noqa: BLE001  # the asker's own check failed: its ask fails with it
                future.set_exception(exc)
                continue
            if left:
                future.set_exception(Gone())
                continue
            batch.append((key, future))
        return batch

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                if not batch:
                    continue
                limit = asyncio.timeout(self._timeout)
                try:
                    async with limit:
                        answers = await self._run([key for key, _ in batch])
                    paired = list(zip(batch, answers, strict=True))
                except TimeoutError as exc:
                    self._fail(
                        batch, TimeoutError(f"no answer in {self._timeout} s") if limit.expired() else exc
                    )
                    continue
                except Exception as exc:  # noqa: BLE001  # each asker raises it, as its own request would
                    self._fail(batch, exc)
                    continue
                except BaseException:
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), answer in paired:
                    if not future.done():  # an asker cancelled meanwhile no longer waits
                        future.set_result(answer)
        finally:
            # Only when the sender itself was cancelled (the loop stopping).
            for _, future, _ in self._waiting:
                future.cancel()
            self._waiting.clear()
            self._sender = None

    @staticmethod
    def _fail(batch: list[tuple[K, asyncio.Future[V]]], exc: Exception) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
