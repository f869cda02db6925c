"""The pieces of a live turn on their way through the arena: read from the endpoint's stream lines, merged
into events when several wait, and the worker's imports done before it takes a request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from judges.providers.base import PermanentProviderError
from judges.providers.openai_compat import _stream_piece, _StreamDone
from live.streaming import _events, _Turn

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


def test_stream_lines_are_read_as_the_protocol_says():
    request = object()  # only carried into the SDK's error
    chunk = {"choices": [{"index": 0, "delta": {"content": "word "}}]}
    assert _stream_piece(f"data: {json.dumps(chunk)}", request) == "word "
    assert _stream_piece(f"data:{json.dumps(chunk)}", request) == "word "  # the space is optional
    assert _stream_piece('data: {"choices": [{"delta": {"role": "assistant"}}]}', request) is None
    assert _stream_piece('data: {"choices": []}', request) is None  # e.g. a usage-only chunk
    for other in ("", "event: message", ": keep-alive"):
        assert _stream_piece(other, request) is None
    with pytest.raises(_StreamDone):
        _stream_piece("data: [DONE]", request)


def test_an_error_event_or_a_garbled_line_raises():
    with pytest.raises(openai.APIError, match="The model crashed"):
        _stream_piece('data: {"error": {"message": "The model crashed", "code": 500}}', object())
    with pytest.raises(ValueError):
        _stream_piece("data: {not json", object())
    with pytest.raises(ValueError, match="JSON object"):
        _stream_piece("data: [1, 2]", object())


def test_the_asgi_entry_imports_the_views_before_any_request():
    """Otherwise the first request of each worker imports them on its event loop, stalling every stream."""
    code = (
        "import sys, arena.asgi; "
        "missing = [m for m in ('live.views', 'arena.urls', 'openai.resources.chat.completions') "
        "if m not in sys.modules]; print(missing)"
    )
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
