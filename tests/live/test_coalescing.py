"""Coalesced look-ups (live.coalescing): keys asked while a request is out go together in the next one, each
asker gets its own key's answer, and a failed request fails each of its askers."""

from __future__ import annotations

import asyncio

import pytest

from live.coalescing import Coalescer, Gone
from tests.support.event_loop import run_coroutine


def test_keys_asked_while_a_request_is_out_go_together_in_the_next():
    requests: list[list[int]] = []

    async def run(keys: list[int]) -> list[int]:
        requests.append(keys)
        await asyncio.sleep(0.01)  # a round trip
        return [key * 10 for key in keys]

    async def burst() -> list[int]:
        coalescer: Coalescer[int, int] = Coalescer(run, most=3, timeout=5)
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
        coalescer: Coalescer[str, str] = Coalescer(run, most=10, timeout=5)
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
        coalescer: Coalescer[int, int] = Coalescer(run, most=10, timeout=5)
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
        coalescer: Coalescer[int, int] = Coalescer(run, most=most, timeout=5)
        return await asyncio.gather(*(coalescer.ask(key) for key in range(5)))

    assert run_coroutine(burst()) == list(range(5))
    assert most_out == 1


def test_a_cancelled_askers_key_is_not_sent():
    """An asker cancelled while its key waits (its stream gone) is left out of the next request: its key
    would otherwise be sent for nobody (a claim made for a tab that left)."""
    requests: list[list[int]] = []

    async def run(keys: list[int]) -> list[int]:
        requests.append(keys)
        await asyncio.sleep(0.01)
        return keys

    async def burst():
        coalescer: Coalescer[int, int] = Coalescer(run, most=10, timeout=5)
        first = asyncio.ensure_future(coalescer.ask(1))
        await asyncio.sleep(0.001)  # its request is out
        leaving = asyncio.ensure_future(coalescer.ask(2))
        staying = asyncio.ensure_future(coalescer.ask(3))
        await asyncio.sleep(0)  # both wait for the next request
        leaving.cancel()
        answers = await asyncio.gather(first, leaving, staying, return_exceptions=True)
        await asyncio.sleep(0.03)  # time for any request still to go
        return answers

    first, left, staying = run_coroutine(burst())
    assert (first, staying) == (1, 3) and isinstance(left, asyncio.CancelledError)
    assert requests == [[1], [3]]


def test_an_askers_gone_check_is_made_as_its_key_is_sent():
    """`gone` is asked when the request goes out, not when the key joins the queue: an asker that left while
    it waited gets Gone and its key is not sent; the others are answered."""
    requests: list[list[int]] = []
    left = {"now": False}

    async def run(keys: list[int]) -> list[int]:
        requests.append(keys)
        await asyncio.sleep(0.01)
        return keys

    async def burst():
        coalescer: Coalescer[int, int] = Coalescer(run, most=10, timeout=5)
        first = asyncio.ensure_future(coalescer.ask(1, gone=lambda: left["now"]))
        await asyncio.sleep(0.001)  # its request is out: leaving now changes nothing for it
        leaving = asyncio.ensure_future(coalescer.ask(2, gone=lambda: left["now"]))
        staying = asyncio.ensure_future(coalescer.ask(3, gone=lambda: False))
        await asyncio.sleep(0)
        left["now"] = True  # the first tab and the second close while the second's key waits
        return await asyncio.gather(first, leaving, staying, return_exceptions=True)

    first, gone, staying = run_coroutine(burst())
    assert (first, staying) == (1, 3) and isinstance(gone, Gone)
    assert requests == [[1], [3]]


def test_a_request_with_no_answer_in_time_fails_its_askers_and_the_next_goes():
    """One request out at a time: a stalled one would hold every later asker. After `timeout` its askers
    fail with TimeoutError and the keys asked meanwhile go in the next request."""
    requests: list[list[str]] = []

    async def run(keys: list[str]) -> list[str]:
        requests.append(keys)
        if "stalled" in keys:
            await asyncio.sleep(30)  # a round trip that never comes back (cancelled by the timeout)
        return keys

    async def burst():
        coalescer: Coalescer[str, str] = Coalescer(run, most=10, timeout=0.1)
        stalled = asyncio.gather(coalescer.ask("stalled"), return_exceptions=True)
        await asyncio.sleep(0.01)
        later = await asyncio.wait_for(coalescer.ask("later"), 5)  # far above the 0.1 s timeout
        return await stalled, later

    (stalled,), later = run_coroutine(burst())
    assert isinstance(stalled, TimeoutError) and later == "later"
    assert requests == [["stalled"], ["later"]]


def test_a_request_whose_answers_do_not_fit_fails_its_askers_instead_of_leaving_them_waiting():
    async def run(keys: list[int]) -> list[int]:
        await asyncio.sleep(0)
        return keys[:-1]  # one answer short

    async def burst():
        coalescer: Coalescer[int, int] = Coalescer(run, most=10, timeout=5)
        return await asyncio.wait_for(asyncio.gather(coalescer.ask(1), return_exceptions=True), 5)

    (failed,) = run_coroutine(burst())
    assert isinstance(failed, ValueError)
