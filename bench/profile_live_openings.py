"""Fifty live streams' openings at once on one event loop, in process: the loop's way against the thread's way.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/profile_live_openings.py [--openings 50] [--rounds 4]

What `bench_live_streams.py` cannot separate from the rest of its burst (the stub's hundred threads, the
client, the pieces relayed): how long fifty openings of a worker take from the first to each one's end, and
the worker's CPU per opening. In a scratch database, with compose's connection pool (DB_POOL_MAX_SIZE=8),
one signed-in person per battle (sessions in Redis, as the web server keeps them). Each round resets the
battles to pending and opens them all at once through `live.stream_app._open` (host check done, as the route
does first), in turn the loop's way (`live.stream_opening`) and the thread's way (Django's SessionStore and
`auth.get_user` in a thread, `live.views.stream_open`); the first round of each warms the pools and is not
counted. Nothing calls the endpoints: the opening ends with the claimed battle and its calls' checks.

`--to-first-piece` times the whole of an opening instead, as `bench_live_streams.py` meets it, without the
ASGI server and the HTTP client: the contenders' endpoint is `bench/stream_stub.py` (a separate process),
each battle's stream is served by `live.stream_app.stream_serve` (the route's own code: host check, the
opening the loop's way, the response head, both provider calls, the first piece relayed) on one uvloop event
loop, readied as a worker readies itself at start (the openings' connections made, the URL validator
compiled, what is loaded frozen for the collector). Printed: the time from the burst's start to each
stream's first piece, and the process's CPU per opening up to the last first piece. A full collection
between rounds (not timed) keeps one round's garbage out of the next one's figure. With `--profile N`,
each counted round runs under cProfile up to its last first piece (so times and CPU read high: compare
its lists, not its figures, with other runs) and the N functions with the most time of their own are
printed (cProfile's clock is the wall's: a thread's lock awaited counts as time of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from bench.verdict_database import scratch_database  # noqa: E402


def _stream_scope(token: str, cookie: str) -> dict:
    """The ASGI scope of a browser's GET of a live battle's stream, signed in by its session cookie."""
    return {
        "type": "http", "method": "GET", "path": f"/arena/b/{token}/stream/", "root_path": "",
        "scheme": "http", "query_string": b"", "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"cookie", f"sessionid={cookie}".encode())],
    }  # fmt: skip


def _battles(n: int, endpoint_url: str = "http://127.0.0.1:9/v1") -> list[tuple[str, str]]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from arena.models import Contender
    from arena.voting import Voter
    from live.services.battles import live_battle_start

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR = 10 * n
    for i in range(2):
        Contender.objects.create(
            slug=f"open-{i}", name=f"Open {i}", status="approved",
            endpoint_url=endpoint_url, endpoint_model=f"m-{i}",
        )  # fmt: skip
    found = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=f"opener-{i}")
        client = Client()
        client.force_login(user)
        battle = live_battle_start(voter=Voter(key=f"u:{user.pk}", user=user), text=f"Question {i}?")
        found.append((battle.token, client.cookies[settings.SESSION_COOKIE_NAME].value))
    return found


async def _round(battles: list[tuple[str, str]], way: str) -> tuple[list[float], float]:
    """(ms from the start to each opening's end, CPU seconds of the process) for one burst."""
    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.core.handlers.asgi import ASGIRequest

    from live import stream_app, stream_opening
    from live.models import LiveBattle

    await sync_to_async(lambda: LiveBattle.objects.update(state=LiveBattle.State.PENDING))()
    stream_opening_applies = stream_opening.applies
    if way == "thread":
        stream_opening.applies = lambda: False  # type: ignore[assignment]
    started = time.perf_counter()
    cpu = time.process_time()

    async def one(token: str, cookie: str) -> float:
        scope = _stream_scope(token, cookie)
        async with ThreadSensitiveContext():  # as the route: the thread's way gets a thread of its own
            request = ASGIRequest(scope, io.BytesIO())
            request.get_host()
            opened = await stream_app._open(request, token, lambda: False)
            assert opened is not None, "nothing claimed"
            return 1000 * (time.perf_counter() - started)

    try:
        ends = await asyncio.gather(*(one(token, cookie) for token, cookie in battles))
    finally:
        stream_opening.applies = stream_opening_applies  # type: ignore[method-assign]
    return list(ends), time.process_time() - cpu


async def _rounds(battles: list[tuple[str, str]], rounds: int) -> dict[str, list[tuple[list[float], float]]]:
    found: dict[str, list] = {"loop": [], "thread": []}
    for number in range(rounds + 1):
        for way in ("loop", "thread") if number % 2 else ("thread", "loop"):
            result = await _round(battles, way)
            if number:
                found[way].append(result)
    return found


async def _first_piece_round(
    battles: list[tuple[str, str]], profiler: cProfile.Profile | None = None
) -> tuple[list[float], float]:
    """(ms from the start to each stream's first piece, CPU seconds of the process until the last) for one
    burst of whole openings through `stream_serve`; then every stream is left, as a closed tab leaves."""
    from asgiref.sync import sync_to_async

    from live import stream_app
    from live.models import LiveBattle

    await sync_to_async(lambda: LiveBattle.objects.update(state=LiveBattle.State.PENDING))()
    gc.collect()
    firsts: list[float] = []
    all_first = asyncio.Event()
    leave = asyncio.Event()

    async def receive() -> dict:
        await leave.wait()
        return {"type": "http.disconnect"}

    async def one(token: str, cookie: str) -> None:
        scope = _stream_scope(token, cookie)
        seen = False

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal seen
            if not seen and b"event: delta" in message.get("body", b""):
                seen = True
                firsts.append(1000 * (time.perf_counter() - started))
                if len(firsts) == len(battles):
                    all_first.set()

        await stream_app.stream_serve(scope, receive, send, token)

    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    cpu = time.process_time()
    streams = [asyncio.create_task(one(token, cookie)) for token, cookie in battles]
    try:
        await asyncio.wait_for(all_first.wait(), 60)
        used = time.process_time() - cpu
    finally:
        if profiler is not None:
            profiler.disable()
        leave.set()
        await asyncio.gather(*streams, return_exceptions=True)
    return firsts, used


async def _first_piece_rounds(
    battles: list[tuple[str, str]], rounds: int, profiler: cProfile.Profile | None
) -> list[tuple[list[float], float]]:
    from live import stream_app, stream_opening

    await stream_opening.warm(stream_app.OPENINGS_AT_ONCE)  # as the worker's start (ASGI lifespan)
    stream_app._warm_up()
    stream_app._long_lived()
    found = []
    for number in range(rounds + 1):
        # The warming round is left out, from the profile as from the figures.
        result = await _first_piece_round(battles, profiler if number else None)
        if number:
            found.append(result)
    return found


def _to_first_piece(openings: int, rounds: int, profile: int) -> None:
    import uvloop

    stub = subprocess.Popen(
        [sys.executable, "-m", "bench.stream_stub", "--words", "200", "--token-interval", "0.05"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = stub.stdout.readline() if stub.stdout else ""
        if not line.startswith("READY "):
            raise SystemExit(f"the stub did not start: {line!r}")
        with scratch_database():
            battles = _battles(openings, line.split()[1])
            from django.db import connections

            connections.close_all()
            load = os.getloadavg()[0]
            profiler = cProfile.Profile() if profile else None
            found = uvloop.run(_first_piece_rounds(battles, rounds, profiler))
            connections.close_all()
    finally:
        stub.terminate()
        stub.wait(10)
    firsts = np.array([first for result, _ in found for first in result])
    cpu = np.array([1000 * seconds / openings for _, seconds in found])
    print(f"{openings} streams opened at once to their first piece, {rounds} rounds; load average {load:.2f} "
          f"before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"  first piece p50 {np.median(firsts):.1f} ms, p90 {np.percentile(firsts, 90):.1f} ms after the burst "
          f"began; process CPU {np.median(cpu):.3f} ms per opening (rounds {', '.join(f'{c:.3f}' for c in cpu)})")  # fmt: skip
    if profiler is not None:
        print(f"  under cProfile: the {profile} functions with the most time of their own, counted rounds, up to "
              "each round's last first piece")  # fmt: skip
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openings", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--to-first-piece", action="store_true",
        help="whole openings through stream_serve to each stream's first piece from a stub (module doc)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="with --to-first-piece: run the counted rounds under cProfile, print the N costliest functions",
    )  # fmt: skip
    args = parser.parse_args()
    if args.profile < 0 or (args.profile and not args.to_first_piece):
        parser.error(
            "--profile takes a count of functions to print (0 for none), and only with --to-first-piece"
        )
    os.environ.setdefault("DB_POOL_MAX_SIZE", "8")  # compose's web service
    os.environ["ARENA_ALLOW_PRIVATE_ENDPOINTS"] = "1"  # as bench_live_streams: the endpoint is on loopback
    if args.to_first_piece:
        _to_first_piece(args.openings, args.rounds, args.profile)
        return
    with scratch_database():
        battles = _battles(args.openings)
        from django.db import connections

        connections.close_all()
        load = os.getloadavg()[0]
        found = asyncio.run(_rounds(battles, args.rounds))
        connections.close_all()
    print(f"{args.openings} openings at once, {args.rounds} rounds each way (alternating); load average "
          f"{load:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs")  # fmt: skip
    for way, results in found.items():
        ends = np.array([end for result, _ in results for end in result])
        cpu = np.array([1000 * seconds / args.openings for _, seconds in results])
        print(f"  {way:6}: opening done p50 {np.median(ends):.1f} ms, p90 {np.percentile(ends, 90):.1f} ms, "
              f"last {np.mean([max(r) for r, _ in results]):.1f} ms (mean of rounds) after the first began; "
              f"process CPU {np.median(cpu):.2f} ms per opening (rounds {', '.join(f'{c:.2f}' for c in cpu)})")  # fmt: skip


if __name__ == "__main__":
    main()
