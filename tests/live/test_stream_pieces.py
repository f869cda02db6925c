"""The pieces of a live turn on their way through the arena: read from the endpoint's stream lines, merged
into events when several arrive within a flush interval, and the worker's imports done before it takes a
request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from judges.providers.base import CompletionRequest, PermanentProviderError, TransientProviderError
from judges.providers.chat_stream import _piece, _take_lines
from live.streaming import FLUSH_INTERVAL_S, _events, _Turn, _waiting
from tests.support.event_loop import run_coroutine

ROOT = Path(__file__).resolve().parents[2]


def _decoded(payload: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in payload.decode().split("\n\n"):
        if block:
            name, data = block.split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_waiting_pieces_of_one_side_become_one_delta_and_order_is_kept():
    turn = _Turn()
    items = [
        ("delta", "left", "Hel"), ("delta", "left", "lo"), ("delta", "right", "Bon"),
        ("delta", "left", " there"), ("delta", "right", "jour"), ("done", "right", "Bonjour"),
    ]  # fmt: skip
    events = _decoded(_events(turn, items))
    assert [name for name, _ in events] == ["delta", "delta", "delta", "delta", "side"]
    assert [data.get("text") for name, data in events if name == "delta"] == [
        "Hello",
        "Bon",
        " there",
        "jour",
    ]
    assert events[-1][1]["side"] == "right" and "Bonjour" in events[-1][1]["html"]
    assert turn.texts == {"right": "Bonjour"} and not turn.failures


def test_a_failed_side_ends_the_pieces_before_it():
    turn = _Turn()
    failure = PermanentProviderError("empty answer", provider="openai")
    events = _decoded(_events(turn, [("delta", "left", "a"), ("error", "left", failure)]))
    assert [name for name, _ in events] == ["delta", "failed-side"]
    assert turn.failures == {"left": failure}


def _request() -> CompletionRequest:
    return CompletionRequest(model="m", messages=[], base_url="http://127.0.0.1:9/v1", api_key="")


def test_stream_lines_are_read_as_the_protocol_says():
    chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "word "}}]}).encode()
    assert _piece(chunk, _request(), "http://127.0.0.1:9/v1") == "word "
    assert _piece(b'{"choices": [{"delta": {"role": "assistant"}}]}', _request(), "") is None
    assert _piece(b'{"choices": []}', _request(), "") is None  # e.g. a usage-only chunk


def test_only_complete_lines_are_taken_and_a_partial_one_waits():
    buffer = bytearray(b"data: one\n\ndata: tw")
    assert _take_lines(buffer) == [b"data: one", b""]
    assert buffer == bytearray(b"data: tw")
    assert _take_lines(buffer) == []
    buffer += b"o\n"
    assert _take_lines(buffer) == [b"data: two"] and not buffer


def test_an_error_event_or_a_garbled_line_is_a_malformed_reply():
    with pytest.raises(TransientProviderError, match="The model crashed"):
        _piece(b'{"error": {"message": "The model crashed", "code": 500}}', _request(), "")
    with pytest.raises(TransientProviderError, match="not valid JSON"):
        _piece(b"{not json", _request(), "")
    with pytest.raises(TransientProviderError, match="JSON object"):
        _piece(b"[1, 2]", _request(), "")


def test_pieces_arriving_within_the_flush_interval_go_out_together_but_the_first_at_once():
    async def scenario() -> tuple[list, list, float]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(("delta", "left", "a"))
        first = await _waiting(queue, loop.time() - 1)  # nothing written yet: no wait
        written = loop.time()
        loop.call_later(FLUSH_INTERVAL_S / 5, queue.put_nowait, ("delta", "left", "b"))
        loop.call_later(FLUSH_INTERVAL_S / 2, queue.put_nowait, ("delta", "right", "c"))
        second = await _waiting(queue, written + FLUSH_INTERVAL_S)
        return first, second, loop.time() - written

    first, second, waited = run_coroutine(scenario())
    assert first == [("delta", "left", "a")]
    assert second == [("delta", "left", "b"), ("delta", "right", "c")]
    assert waited >= FLUSH_INTERVAL_S * 0.9


def test_the_end_of_a_side_is_not_held_back():
    async def scenario() -> tuple[list, float]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(("done", "left", "text"))
        started = loop.time()
        items = await _waiting(queue, started + 10)
        return items, loop.time() - started

    items, waited = run_coroutine(scenario())
    assert items == [("done", "left", "text")] and waited < 1


def test_the_asgi_entry_imports_the_views_before_any_request():
    """Otherwise the first request of each worker imports them on its event loop, stalling every stream."""
    code = (
        "import sys, arena.asgi; "
        "missing = [m for m in ('live.views', 'arena.urls', 'judges.providers.chat_stream', 'httptools') "
        "if m not in sys.modules]; print(missing)"
    )
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
