"""Coalesced look-ups (live.coalescing): keys asked while a request is out go together in the next one, each
asker gets its own key's answer, and a failed request fails each of its askers."""

from __future__ import annotations

import asyncio

import pytest

from live.coalescing import Coalescer
from tests.support.event_loop import run_coroutine


def test_keys_asked_while_a_request_is_out_go_together_in_the_next():
    requests: list[list[int]] = []

    async def run(keys: list[int]) -> list[int]:
        requests.append(keys)
        await asyncio.sleep(0.01)  # a round trip
        return [key * 10 for key in keys]

    async def burst() -> list[int]:
        coalescer: Coalescer[int, int] = Coalescer(run, most=3)
        first = asyncio.ensure_future(coalescer.ask(0))
        await asyncio.sleep(0.001)  # its request is out
        rest = await asyncio.gather(*(coalescer.ask(key) for key in range(1, 6)))
        return [await first, *rest]

    answers = run_coroutine(burst())
    assert answers == [key * 10 for key in range(6)]
    # The first asker's request goes out alone; the others wait for it and go at most `most` a time.
    assert requests == [[0], [1, 2, 3], [4, 5]]


def test_a_failed_request_fails_each_of_its_askers_and_the_next_request_still_goes():
    async def run(keys: list[str]) -> list[str]:
        await asyncio.sleep(0)
        if "bad" in keys:
            raise ConnectionError("the server went away")
        return keys

    async def burst():
        coalescer: Coalescer[str, str] = Coalescer(run, most=10)
        first = asyncio.gather(coalescer.ask("bad"), return_exceptions=True)
        await asyncio.sleep(0)
        return await first, await coalescer.ask("good")

    (failed,), good = run_coroutine(burst())
    assert isinstance(failed, ConnectionError) and good == "good"


def test_an_asker_that_leaves_does_not_stop_the_others():
    async def run(keys: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return keys

    async def burst():
        coalescer: Coalescer[int, int] = Coalescer(run, most=10)
        leaving = asyncio.ensure_future(coalescer.ask(1))
        staying = asyncio.ensure_future(coalescer.ask(2))
        await asyncio.sleep(0)
        leaving.cancel()
        return await staying, await asyncio.gather(leaving, return_exceptions=True)

    staying, (left,) = run_coroutine(burst())
    assert staying == 2 and isinstance(left, asyncio.CancelledError)


@pytest.mark.parametrize("most", [1, 2])
def test_one_request_out_at_a_time(most):
    out, most_out = 0, 0

    async def run(keys: list[int]) -> list[int]:
        nonlocal out, most_out
        out += 1
        most_out = max(most_out, out)
        await asyncio.sleep(0.005)
        out -= 1
        return keys

    async def burst():
        coalescer: Coalescer[int, int] = Coalescer(run, most=most)
        return await asyncio.gather(*(coalescer.ask(key) for key in range(5)))

    assert run_coroutine(burst()) == list(range(5))
    assert most_out == 1
