"""Live battles under load: 50 concurrent streams while the leaderboard page is served. Prints figures.

Run from the repository root with PostgreSQL and Redis up (``scripts/bench.sh`` provisions both):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_live_streams.py [--streams 50]

In a scratch database: a leaderboard (50 contenders, 20,000 verdicts, one recompute), two contenders whose
endpoint is a loopback OpenAI-compatible stub (a separate process, streaming 200 words at 20 words/s: 10 s a
side), and one live battle per simulated person. `--stub async` (the default since 2026-12-07) is
`bench/stream_stub.py`, one asyncio event loop; `--stub threaded` is the tests' stub, a thread per connection,
which the bench used before: on two shared cores its own answer to a burst of a hundred streams (its burst
figure below, measured alone) took time a remote provider spends on its own machines. The metric is unchanged;
the stand-in provider is cheaper, and the reference figures come from the same stub as the arena's streams. The arena runs as compose runs it: the web service's command and
environment read from docker-compose.yml (gunicorn, uvicorn workers, pooled connections), a separate
process. Then all streams open at once (each battle streams both sides: 2 × --streams calls to the
stub) while one client GETs /leaderboard/ back to back until the streams end.
Targets (issue 15): every stream completes; /leaderboard/ p99 < 150 ms meanwhile; time to first token added
by the arena (arena's p50 minus the stub's own, measured directly) ≤ 50 ms. Not part of the test run.
`--no-pages` (a diagnosis, not a run of the targets) streams without the page client, to tell the pages' share
of the first token from the streams' own; the metric is the same, no page figure is printed.
`--pages-per-second R` (a diagnosis too) starts the page client's GETs at R per second rather than back to
back: back to back, a cheaper page is served more often, and the pages' share of the CPU during the streams
stays about the same; at a fixed rate it shows what a page's cost does to the streams' first token.

The streams (the arena's and the stub's reference ones alike) go through `bench.live_stream_client`: each
connection opened and its request built before the timed burst, the burst a loop of writes, a stream's clock
started at its own write. Until 2026-12-06 #3 they went through one httpx client, which wrote the fifty
requests over ~50-370 ms after the burst began (p50 ~306 ms; a probe of httpcore's trace, load 4.5-5): the
client's own delay, counted as the arena's. The pages still go through httpx (their latency is per request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from bench.live_stream_client import PreparedStream, stream_prepare  # noqa: E402
from bench.verdict_database import Shape, scratch_database, verdicts_load  # noqa: E402
from bench.votes_server import deployed_web  # noqa: E402

TARGET_PAGE_P99_MS = 150.0
TARGET_ADDED_TTFT_MS = 50.0
WORDS, WORDS_PER_SECOND = 200, 20
SHAPE = Shape(contenders=50, prompts=200, battles_per_prompt=100, votes_per_battle=1)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STUBS = {
    # One asyncio event loop (bench/stream_stub.py): the default since 2026-12-07.
    "async": ["bench.stream_stub", "--words", str(WORDS)],
    # The tests' stub, a thread per connection: the bench's stand-in provider until 2026-12-07.
    "threaded": ["tests.support.openai_stub", "--script", "long", "--script-args", f'{{"words": {WORDS}}}'],
}


def _start_stub(kind: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", *STUBS[kind], "--token-interval", str(1 / WORDS_PER_SECOND)]
    stub = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = stub.stdout.readline() if stub.stdout else ""
    if not line.startswith("READY "):
        raise SystemExit(f"the stub did not start: {line!r}")
    return stub, line.split()[1]


def _start_arena(database_url: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ARENA_ALLOW_PRIVATE_ENDPOINTS": "1",
           "ALLOWED_HOSTS": "*", "DEBUG": "0", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only"),
           "STATIC_ROOT": tempfile.mkdtemp(prefix="arena-bench-static-")}  # fmt: skip
    # With DEBUG off, pages name their static files through the manifest: without it every page is a 500.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    command, deployed_env = deployed_web()
    command[command.index("-b") + 1] = f"127.0.0.1:{port}"
    env.update(deployed_env)
    print(f"arena: {' '.join(command)} with {deployed_env}")
    # The access log goes to stdout, as in compose; here nobody reads it.
    server = subprocess.Popen([sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the arena did not answer /healthz within 60 s")


def _process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the gunicorn master and its workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pids = 0.0, [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            pids += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _battles(stub_url: str, n: int) -> list[tuple[str, str]]:
    """(token, session cookie) of one pending live battle per simulated person."""
    from django.conf import settings
    from django.test import Client

    from arena.models import Contender
    from arena.voting import Voter
    from live.services.battles import live_battle_start

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR = 10 * n
    for i in range(2):
        Contender.objects.create(
            slug=f"live-bench-{i}", name=f"Live bench {i}", status="approved",
            endpoint_url=stub_url, endpoint_model=f"bench-{i}",
        )  # fmt: skip
    Contender.objects.exclude(slug__startswith="live-bench-").update(endpoint_url="")
    from django.contrib.auth import get_user_model

    found = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=f"live-bench-{i}")
        client = Client()
        client.force_login(user)
        battle = live_battle_start(voter=Voter(key=f"u:{user.pk}", user=user), text=f"Question {i}?")
        found.append((battle.token, client.cookies[settings.SESSION_COOKIE_NAME].value))
    return found


async def _first_token_ms(prepared: PreparedStream) -> float:
    """ms from writing a stub request to its first streamed word (the request already sent)."""
    try:
        async for line in prepared.lines():
            if '"content": "' in line and '"content": ""' not in line:
                return 1000 * (time.perf_counter() - prepared.sent_at)
    finally:
        prepared.close()
    raise SystemExit("the stub sent no word")


async def _stub_requests(stub_url: str, n: int) -> list[PreparedStream]:
    body = {"model": "bench-0", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    return list(
        await asyncio.gather(
            *(
                stream_prepare(f"{stub_url}/chat/completions", method="POST", body=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
                for _ in range(n)
            )
        )
    )  # fmt: skip


async def _first_token_direct(stub_url: str, tries: int = 5) -> list[float]:
    """Time to the first streamed word straight from the stub, one stream at a time, in ms."""
    found = []
    for _ in range(tries):
        (prepared,) = await _stub_requests(stub_url, 1)
        prepared.send()
        found.append(await _first_token_ms(prepared))
    return found


async def _first_token_direct_burst(stub_url: str, streams: int) -> list[float]:
    """The same with `streams` streams opened at once, as the arena opens them during the load: the stub's
    own share of the first token under that burst (a Python server starting a thread per connection)."""
    prepared = await _stub_requests(stub_url, streams)
    for each in prepared:
        each.send()
    return list(await asyncio.gather(*(_first_token_ms(each) for each in prepared)))


async def _stream(prepared: PreparedStream) -> tuple[float | None, bool]:
    """(ms from writing the request to the first piece, completed) for one battle's stream, already sent."""
    first = None
    try:
        async for line in prepared.lines():
            if first is None and line.startswith("event: delta"):
                first = 1000 * (time.perf_counter() - prepared.sent_at)
            if line.startswith("data: ") and '"state": "ready"' in line:
                return first, True
    finally:
        prepared.close()
    return first, False


def _page_cpu_alone(pid: int, url: str, pages: int = 20) -> float:
    """The arena's CPU seconds per GET /leaderboard/ with nothing else running (after one warm-up request),
    to tell the pages' share of the CPU during the streams from the streams' own."""
    import httpx

    with httpx.Client(timeout=30) as client:
        client.get(f"{url}/leaderboard/")
        before = _process_tree_cpu_seconds(pid)
        for _ in range(pages):
            client.get(f"{url}/leaderboard/")
    return (_process_tree_cpu_seconds(pid) - before) / pages


async def _pages(client, url: str, done: asyncio.Event, per_second: float = 0) -> list[float]:
    """GET /leaderboard/ until `done`: back to back, or (`per_second`) started on a fixed schedule, so
    that a cheaper page means less work meanwhile rather than more pages (behind schedule: back to back)."""
    latencies = []
    due = time.perf_counter()
    while not done.is_set():
        if per_second:
            due += 1 / per_second
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        started = time.perf_counter()
        response = await client.get(f"{url}/leaderboard/")
        latencies.append(1000 * (time.perf_counter() - started))
        assert response.status_code == 200, response.status_code
    return latencies


async def _no_pages() -> list[float]:
    """`--no-pages`: no page client (to see what the pages' CPU adds to the streams' first token)."""
    return []


async def _load(
    url: str, battles: list[tuple[str, str]], with_pages: bool = True, pages_per_second: float = 0
) -> tuple[list, list[float], float]:
    import httpx

    async with httpx.AsyncClient(timeout=60) as client:
        await client.get(f"{url}/leaderboard/")  # warm: the first view after a recompute
        done = asyncio.Event()
        pages = asyncio.create_task(
            _pages(client, url, done, pages_per_second) if with_pages else _no_pages()
        )
        streams = await asyncio.gather(
            *(
                stream_prepare(f"{url}/arena/b/{token}/stream/", headers={"Cookie": f"sessionid={cookie}"})
                for token, cookie in battles
            )
        )
        started = time.perf_counter()
        for prepared in streams:  # the burst: every request written in one go
            prepared.send()
        results = await asyncio.gather(*(_stream(prepared) for prepared in streams))
        elapsed = time.perf_counter() - started
        done.set()
        return results, await pages, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument(
        "--stub", choices=sorted(STUBS), default="async",
        help="the stand-in provider: async (bench/stream_stub.py, one event loop) or threaded "
        "(tests/support/openai_stub.py, a thread per connection)",
    )  # fmt: skip
    parser.add_argument(
        "--no-pages", action="store_true",
        help="diagnosis only: no page client during the streams (the targets need the pages: no page figure)",
    )  # fmt: skip
    parser.add_argument(
        "--pages-per-second", type=float, default=0,
        help="diagnosis only: the page client starts its GETs at this rate instead of back to back (a "
        "cheaper page then leaves the streams more of the CPU rather than serving more pages)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.pages_per_second < 0:
        parser.error(f"--pages-per-second must be 0 (back to back) or more, not {args.pages_per_second:g}")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("skipped: DATABASE_URL does not name a PostgreSQL server (run scripts/bench.sh)")
        return
    with scratch_database() as database_url:
        from leaderboard.services.recompute import leaderboards_recompute

        verdicts_load(SHAPE)
        leaderboards_recompute(trigger="bench")
        stub, stub_url = _start_stub(args.stub)
        server = None
        try:
            battles = _battles(stub_url, args.streams)
            from django.db import connections

            connections.close_all()
            server, url = _start_arena(database_url)
            direct = asyncio.run(_first_token_direct(stub_url))
            burst = asyncio.run(_first_token_direct_burst(stub_url, 2 * args.streams))
            time.sleep(WORDS / WORDS_PER_SECOND + 2)  # the burst's streams end before the load starts
            page_cpu = _page_cpu_alone(server.pid, url)
            load_before = os.getloadavg()[0]
            cpu_before = _process_tree_cpu_seconds(server.pid)
            results, pages, elapsed = asyncio.run(
                _load(url, battles, with_pages=not args.no_pages, pages_per_second=args.pages_per_second)
            )
            arena_cpu = _process_tree_cpu_seconds(server.pid) - cpu_before
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)
            stub.terminate()
            stub.wait(10)
    firsts = [first for first, _ in results if first is not None]
    completed = sum(ok for _, ok in results)
    page_p50, page_p99 = (
        np.percentile(pages, [50, 99]) if pages else (float("nan"), float("nan"))
    )  # --no-pages
    ttft_p50, ttft_p99 = np.percentile(firsts, [50, 99]) if firsts else (float("nan"), float("nan"))
    added = ttft_p50 - float(np.median(direct))
    print(f"{args.streams} live battles streamed at once ({2 * args.streams} stub streams, {WORDS} words at "
          f"{WORDS_PER_SECOND}/s each, stub: {args.stub}) in {elapsed:.1f} s; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs")  # fmt: skip
    streams_cpu = arena_cpu - len(pages) * page_cpu
    print(f"  arena CPU (gunicorn master and workers) during the streams: {arena_cpu:.2f} s, "
          f"{1000 * arena_cpu / args.streams:.0f} ms per live battle ({2 * WORDS} pieces), "
          f"{1e6 * arena_cpu / (2 * WORDS * args.streams):.0f} µs per piece (pages served meanwhile included)")  # fmt: skip
    print(f"  of which the pages, at their CPU alone ({1000 * page_cpu:.1f} ms per page, {len(pages)} pages): "
          f"{len(pages) * page_cpu:.2f} s; the rest, the streams' estimate: {streams_cpu:.2f} s, "
          f"{1000 * streams_cpu / args.streams:.0f} ms per live battle, "
          f"{1e6 * streams_cpu / (2 * WORDS * args.streams):.0f} µs per piece")  # fmt: skip
    # A diagnosis run (no page client, or a paced one) is not the targets' run: its figures carry no verdict.
    diagnosis = args.no_pages or args.pages_per_second > 0

    def judged(ok: bool) -> str:
        return "(a diagnosis: no verdict)" if diagnosis else verdict(ok)

    print(f"  streams completed {completed}/{args.streams}   {verdict(completed == args.streams)}")
    if args.no_pages:
        print(
            "  GET /leaderboard/ during the streams: not served (--no-pages: a diagnosis, not the targets' run)"
        )
    else:
        pace = f" (started at {args.pages_per_second:g}/s)" if args.pages_per_second else " (back to back)"
        print(f"  GET /leaderboard/ during the streams: {len(pages)} requests{pace}, p50 {page_p50:.1f} ms, "
              f"p99 {page_p99:.1f} ms   target p99 < {TARGET_PAGE_P99_MS:g} ms   {judged(page_p99 < TARGET_PAGE_P99_MS)}")  # fmt: skip
    print(f"  time to first token: stub alone p50 {np.median(direct):.1f} ms one at a time, "
          f"{np.median(burst):.1f} ms with {2 * args.streams} opened at once; through the arena p50 "
          f"{ttft_p50:.1f} ms, p99 {ttft_p99:.1f} ms (all {args.streams} opened at once)")  # fmt: skip
    print(
        f"  added by the arena over the stub's burst figure (p50) {ttft_p50 - float(np.median(burst)):.1f} ms"
    )
    print(f"  added by the arena (p50) {added:.1f} ms   target ≤ {TARGET_ADDED_TTFT_MS:g} ms   "
          f"{judged(added <= TARGET_ADDED_TTFT_MS)}")  # fmt: skip


if __name__ == "__main__":
    main()
