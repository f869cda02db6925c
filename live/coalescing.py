"""Many openings' look-ups of one kind made as one request: a burst's fifty reads become a few.

Fifty streams opening at once each read a session from Redis and a user and a claim from PostgreSQL: fifty
round trips of each kind, each with its fixed cost in the worker, the driver and the server (parse, plan,
a wake-up on both sides), queued behind a few connections. A `Coalescer` takes the keys asked while its
previous request is out and sends them together (Redis MGET, PostgreSQL `= ANY` / `unnest`): under a burst
the openings share a handful of round trips; alone, an opening's request goes out at once, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`ask(key)` answers with `run(keys)`'s answer for that key; keys asked while a request is out go in the
    next one (at most `most` per request), one request out at a time. A failed request fails each of its
    askers with its exception."""

    def __init__(self, run: Callable[[list[K]], Awaitable[list[V]]], *, most: int) -> None:
        self._run = run
        self._most = most
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._sender: asyncio.Task | None = None

    async def ask(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
                try:
                    answers = await self._run([key for key, _ in batch])
                except Exception as exc:  # noqa: BLE001  # each asker raises it, as its own request would
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():  # an asker cancelled meanwhile no longer waits
                        future.set_result(answer)
        finally:
            for _, future in self._waiting:  # only when the sender itself was cancelled (the loop stopping)
                future.cancel()
            self._waiting = []
            self._sender = None
