"""bench_votes: a lean keep-alive HTTP/1.1 client over asyncio (the client must not be the bottleneck on 2 cores)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from votes_seed import Person

TOKEN = re.compile(rb'/vote/b/([A-Za-z0-9_-]+)/"')
# The vote's reply (the reveal) holds a hidden element that loads the person's progress when it lands.
PROGRESS = re.compile(rb'hx-get="([^"]+)" hx-trigger="load" hx-target="#vote-progress"')


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, person: Person, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nCookie: {person.cookie}\r\nX-CSRFToken: {person.csrf}\r\n"
            f"HX-Request: true\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if fields.get("transfer-encoding") == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(fields.get("content-length", 0)))
        if fields.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).strip() or b"0", 16):
            parts.append(await self.reader.readexactly(size + 2))
        await self.reader.readuntil(b"\r\n")
        return b"".join(p[:-2] for p in parts)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: int = 0
    seconds: float = 0.0

    def add(self, status: int, started: float) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.accepted += status == 200

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


CHOICES = [
    b"overall=left",
    b"overall=right",
    b"overall=tie",
    b"overall=left&dim-correctness=left",
    b"overall=both_bad",
]


async def vote_phase(port: int, people: list[Person], clients: int) -> Tally:
    """Every person posts their vote once; `clients` connections share the work."""
    tally, queue = Tally(), asyncio.Queue[Person]()
    for person in people:
        queue.put_nowait(person)

    async def client(i: int) -> None:
        conn = Connection(port)
        while not queue.empty():
            person = queue.get_nowait()
            started = time.perf_counter()
            status, _ = await conn.request(
                "POST", f"/vote/b/{person.token}/", person, CHOICES[i % len(CHOICES)]
            )
            tally.add(status, started)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    tally.seconds = time.perf_counter() - started
    return tally


async def round_trip_phase(
    port: int, people: list[Person], seconds: float, task_slug: str, *, progress: Tally | None = None
) -> tuple[Tally, Tally]:
    """Each person loads the next battle (htmx fragment) and votes on it, again and again, for `seconds`.

    With `progress`, each person also loads the progress fragment the vote's reveal asks for, as a browser
    does (its figures go to `progress`): the whole of a browser's round trip."""
    serve, vote = Tally(), Tally()
    deadline = time.perf_counter() + seconds

    async def client(i: int, person: Person) -> None:
        conn = Connection(port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, body = await conn.request("GET", f"/vote/t/{task_slug}/?start=1", person)
            serve.add(status, started)
            found = TOKEN.search(body)
            if status != 200 or not found:
                continue
            started = time.perf_counter()
            status, body = await conn.request(
                "POST", f"/vote/b/{found.group(1).decode()}/", person, CHOICES[i % len(CHOICES)]
            )
            vote.add(status, started)
            asked = PROGRESS.search(body) if progress is not None and status == 200 else None
            if progress is not None and asked is None:
                progress.add(0, time.perf_counter())  # counted as a failure: the reveal asked for no progress
            elif asked is not None:
                started = time.perf_counter()
                status, _ = await conn.request("GET", asked.group(1).decode().replace("&amp;", "&"), person)
                progress.add(status, started)

    started = time.perf_counter()
    await asyncio.gather(*(client(i, p) for i, p in enumerate(people)))
    serve.seconds = vote.seconds = time.perf_counter() - started
    return serve, vote
