"""An offline "template" model for the demo: a real OpenAI-compatible HTTP server on loopback that streams.

`make demo` starts it (`manage.py demo_model`) so live battles work with no network and no GPU: each demo
contender gets this server as its endpoint, with its slug as the model name. The answers are templates, not
thoughts: they restate the question and vary in shape by model (terse, verbose, a list, Markdown with a
header), so two sides look different and the vote has something to weigh. Streams go out word by word at
a steady pace, as a real server's tokens would.
"""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS_PER_SECOND = 25

_SHAPES = {
    "terse": "{topic}: it depends on the details, but in short, yes, with the usual caveats.",
    "verbose": (
        "That is a good question about {topic}. There are several things to consider here. First, the "
        "context matters a great deal, and the answer changes with it. Second, the common view is a useful "
        "starting point but rarely the whole story. In summary, {topic} deserves a careful, step-by-step look."
    ),
    "list": (
        "Here is how I would approach {topic}:\n\n1. Say what is being asked.\n2. Check the facts that "
        "matter.\n3. Give the short answer first, then the reasons.\n\nThat covers the essentials."
    ),
    "markdown": (
        "## {topic}\n\n**Short answer:** it depends on the setting.\n\n- *Why:* the details change the "
        "outcome.\n- *What to do:* start simple and check the result.\n\n> A follow-up question helps."
    ),
}
_SHAPE_OF_STYLE = {"good": "list", "markdown": "markdown", "terse": "terse", "verbose": "verbose"}


def reply_for(model: str, messages: list[dict[str, Any]], shape: str) -> str:
    question = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    topic = " ".join(str(question).split())[:80].rstrip("?.!") or "your question"
    return _SHAPES.get(shape, _SHAPES["list"]).format(topic=topic)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DemoModelServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._json(
                404, {"error": {"message": f"no route GET {self.path}", "type": "invalid_request_error"}}
            )
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "demo"} for m in self.server.shapes]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        if self.path.rstrip("/") != "/v1/chat/completions" or not isinstance(body, dict):
            self._json(
                400,
                {
                    "error": {
                        "message": "POST a chat completion to /v1/chat/completions",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        model = str(body.get("model", ""))
        text = reply_for(model, body.get("messages") or [], self.server.shapes.get(model, "list"))
        if body.get("stream"):
            self._stream(model, text)
        else:
            message = {"role": "assistant", "content": text}
            self._json(200, {"id": "demo", "object": "chat.completion", "created": int(time.time()), "model": model,
                             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})  # fmt: skip

    def _stream(self, model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for number, piece in enumerate(re.findall(r"\S+\s*", text)):
                if number:
                    time.sleep(1 / WORDS_PER_SECOND)
                chunk = {"id": "demo", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
                self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the person closed the tab: stop writing

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class DemoModelServer(ThreadingHTTPServer):
    """`shapes`: model name -> answer shape ("terse", "verbose", "list", "markdown")."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], shapes: dict[str, str]) -> None:
        super().__init__(address, _Handler)
        self.shapes = shapes

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


def shape_of(styles: dict[str, int]) -> str:
    """A demo contender's answer shape: its most frequent style, read as a shape."""
    best = max((s for s in styles if s != "wrong"), key=lambda style: styles[style], default="good")
    return _SHAPE_OF_STYLE.get(best, "list")
