"""A streaming OpenAI-compatible stand-in provider for the live-streams bench: one asyncio event loop.

    python -m bench.stream_stub --words 200 --token-interval 0.05

It prints `READY <base_url>` once listening, as `tests.support.openai_stub` does, and answers
`POST /v1/chat/completions` with `"stream": true` the same way: the `long` script's reply (the same
function, so the same words), one `chat.completion.chunk` Server-Sent Event per word `--token-interval`
seconds apart, a last chunk with `finish_reason`, then `data: [DONE]`, in HTTP/1.1 chunked encoding.

Why not that stub: it starts a thread per connection, and on the bench's two shared cores a burst of a
hundred streams opened at once took it ~80 ms to answer (its own first token, measured alone), time a remote
provider would spend on its own machines. Here a connection costs a coroutine and a few writes. Nothing
else is served (no faults, no control endpoint, no keep-alive: every reply ends its connection, as the
arena's streaming client and the bench's client both ask); a request that is not a streamed chat completion
gets a 400 or a 404 in OpenAI's error shape.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from typing import Any

from tests.support.openai_stub import chunk_body, error_body, script_named

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}
_MAX_HEAD = 64 * 1024


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(payload: dict[str, Any]) -> bytes:
    return _chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")


class StreamStub:
    def __init__(self, *, words: int, token_interval: float) -> None:
        self.script = script_named("long", words=words)
        self.token_interval = token_interval

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client left (a cancelled stream) or sent something unreadable
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0]
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            self._send_json(writer, 404, error_body(404, f"no route {method} {path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            self._send_json(writer, 400, error_body(400, "'model' and 'messages' are required."))
            return
        if not body.get("stream"):
            self._send_json(writer, 400, error_body(400, 'this stub only streams: send "stream": true'))
            return
        await self._stream(writer, body)

    async def _stream(self, writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
        pieces = re.findall(r"\S+\s*", self.script(body)) or [""]
        writer.write(
            _head(
                200,
                {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked", "Connection": "close"},
            )
            + _event(chunk_body(body, {"role": "assistant", "content": ""}))
            + _event(chunk_body(body, {"content": pieces[0]}))
        )
        for piece in pieces[1:]:
            await asyncio.sleep(self.token_interval)
            if writer.is_closing():
                return
            writer.write(_event(chunk_body(body, {"content": piece})))
        writer.write(
            _event(chunk_body(body, {}, finish_reason="stop")) + _chunk(b"data: [DONE]\n\n") + _chunk(b"")
        )
        await writer.drain()

    def _send_json(self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            "Connection": "close",
        }
        writer.write(_head(status, headers) + data)


async def serve(host: str, port: int, stub: StreamStub) -> None:
    # A backlog as deep as the burst: the arena opens a hundred connections at once.
    server = await asyncio.start_server(stub.handle, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    print(f"READY http://{bound[0]}:{bound[1]}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see the READY line)")
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--token-interval", type=float, default=0.05, help="seconds between streamed words")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, StreamStub(words=args.words, token_interval=args.token_interval)))


if __name__ == "__main__":
    main()
