"""A minimal HTTP/1.1 client for the live-streams bench: one request per connection, opened beforehand.

Why not httpx (which the bench used before): fifty streams opened at once from one httpx client reached the
arena spread over ~50-370 ms after the burst started (request headers written p50 ~306 ms, load 4.5-5,
2026-12-06), that is the client's own work (connection set-up, its pool, per-request machinery, on the
event loop it shares with the page client) counted as the arena's time to first token. Here each stream's
connection is opened and its request bytes built before the timed burst; the burst is fifty writes in a
row, and a stream's clock starts at its own write. The same client measures the stub's reference figures,
so both sides of "added by the arena" are timed alike. A browser opening a battle's stream likewise sends
it on the keep-alive connection that just loaded the battle's page.

Only what the bench needs: GET or POST, a status line, headers, and a chunked or Content-Length body read
as lines (Server-Sent Events).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class PreparedStream:
    """An open connection and the request to send on it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request: bytes
    sent_at: float = 0.0  # time.perf_counter() when the request was written

    def send(self) -> None:
        """Write the request (buffered by the transport; no await, so a burst is a tight loop of these)."""
        self.sent_at = time.perf_counter()
        self.writer.write(self.request)

    async def lines(self) -> AsyncIterator[str]:
        """The response body's lines; raises if the status is not 200."""
        status = await self.reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"unexpected response: {status!r}")
        chunked, length = False, None
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            if name.lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name.lower() == "content-length":
                length = int(value)
        pending = ""
        async for piece in self._body(chunked, length):
            pending += piece.decode()
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line
        if pending:
            yield pending

    async def _body(self, chunked: bool, length: int | None) -> AsyncIterator[bytes]:
        if not chunked:
            yield await (self.reader.readexactly(length) if length is not None else self.reader.read())
            return
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            yield await self.reader.readexactly(size)
            await self.reader.readexactly(2)  # the CRLF after each chunk
        await self.reader.readline()  # the CRLF after the last, empty chunk

    def close(self) -> None:
        self.writer.close()


async def stream_prepare(
    url: str, *, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None
) -> PreparedStream:
    """Open a connection to `url`'s host and build the request; nothing is sent yet."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80, limit=2**20)
    lines = [
        f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Accept: text/event-stream",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return PreparedStream(reader, writer, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
