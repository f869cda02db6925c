"""Vote throughput: people's votes per second through gunicorn + PostgreSQL, with concurrent clients. Prints figures.

Run from the repository root (PostgreSQL and Redis as for the tests):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_votes.py [--votes 10000] [--clients 12] [--workers 3] [--threads 2] [--asgi]

What it does: creates a scratch database on the DATABASE_URL server (dropped at the end), migrates it, seeds a
prompt set, contenders with Markdown answers and a voting task, then signed-in annotators with their sessions,
each with a battle already served (an open assignment with its opaque token). It starts gunicorn on a free
port (WSGI gthread workers; with --asgi, compose's web command instead: uvicorn workers, ASGI) and drives it with keep-alive HTTP/1.1 connections from an asyncio client:

(a) vote POSTs (htmx, CSRF header, session cookie): votes/s sustained and latency;  target ≥ 500/s, p99 < 100 ms
    and every accepted vote stored as a people's verdict (nothing lost, nothing doubled);
(b) the round trip of issue 13's target: load the next battle (htmx fragment, Markdown rendered), then vote;
    target ≥ 200 round trips/s with serve p50 ≤ 30 ms;
(c) the whole of a browser's round trip: (b) plus the progress fragment the vote's reveal loads (the person's
    counts and agreement figure), printed beside (b) without a target of its own (`--no-browser` leaves it out).

Rate limits stay on, raised through their settings so this legitimate load is not refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's packages
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's helper modules

from votes_client import Tally, round_trip_phase, vote_phase  # noqa: E402
from votes_seed import django_setup, seed_arena, seed_people, serve_directly  # noqa: E402
from votes_server import (  # noqa: E402
    PhaseCpu,
    Scratch,
    free_port,
    manage,
    server_env,
    start_deployed,
    start_gunicorn,
)

# Issue 13's targets.
TARGET_VOTES_PER_SECOND = 500
TARGET_P99_MS = 100
TARGET_ROUND_TRIPS_PER_SECOND = 200
TARGET_SERVE_P50_MS = 30


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_votes(label: str, tally: Tally, stored: int) -> bool:
    rate = tally.accepted / tally.seconds
    p50, p95, p99 = tally.pct(0.50), tally.pct(0.95), tally.pct(0.99)
    ok_rate, ok_p99, ok_stored = (
        rate >= TARGET_VOTES_PER_SECOND,
        p99 < TARGET_P99_MS,
        stored == tally.accepted,
    )
    print(label)
    print(
        f"  throughput             {rate:8.1f} votes/s   ({tally.accepted} accepted in {tally.seconds:.2f} s)   target ≥ {TARGET_VOTES_PER_SECOND}/s   {_verdict(ok_rate)}"
    )
    print(
        f"  latency p50/p95/p99    {p50:6.1f} / {p95:.1f} / {p99:.1f} ms   target p99 < {TARGET_P99_MS} ms   {_verdict(ok_p99)}"
    )
    print(
        f"  accepted vs stored     {tally.accepted} / {stored} verdicts   statuses {tally.statuses}   nothing lost: {_verdict(ok_stored)}"
    )
    return ok_rate and ok_p99 and ok_stored


def report_cpu(cpu: tuple[float, float], votes: int, load: float) -> None:
    app_ms, db_ms = (1000 * seconds / max(votes, 1) for seconds in cpu)
    cores = os.cpu_count() or 1
    print(
        f"  CPU per vote           {app_ms:.2f} ms gunicorn + {db_ms:.2f} ms PostgreSQL   (load average before: {load:.1f} on {cores} CPUs)"
    )
    print(f"  capacity if idle       ≈ {1000 * cores / (app_ms + db_ms):.0f} votes/s on {cores} CPUs")


def report_round_trip_cpu(cpu: tuple[float, float], round_trips: int) -> None:
    app_ms, db_ms = (1000 * seconds / max(round_trips, 1) for seconds in cpu)
    cores = os.cpu_count() or 1
    print(
        f"  CPU per round trip     {app_ms:.2f} ms gunicorn + {db_ms:.2f} ms PostgreSQL   "
        f"(capacity if idle ≈ {1000 * cores / (app_ms + db_ms):.0f} round trips/s on {cores} CPUs)"
    )


def report_round_trips(serve: Tally, vote: Tally) -> None:
    print(
        f"Serve + vote round trips (htmx fragment with rendered Markdown, then the vote), {len(serve.latencies_ms)} loads"
    )
    rate = vote.accepted / vote.seconds
    print(
        f"  round trips            {rate:8.1f} /s   statuses serve {serve.statuses} vote {vote.statuses}   "
        f"target ≥ {TARGET_ROUND_TRIPS_PER_SECOND}/s   {_verdict(rate >= TARGET_ROUND_TRIPS_PER_SECOND)}"
    )
    print(
        f"  serve p50/p99          {serve.pct(0.5):6.1f} / {serve.pct(0.99):.1f} ms   "
        f"target p50 ≤ {TARGET_SERVE_P50_MS} ms   {_verdict(serve.pct(0.5) <= TARGET_SERVE_P50_MS)}"
    )
    print(f"  vote  p50/p99          {vote.pct(0.5):6.1f} / {vote.pct(0.99):.1f} ms")


def report_browser_round_trips(serve: Tally, vote: Tally, progress: Tally) -> None:
    print(
        "(c) A browser's whole round trip: (b) and the progress fragment the reveal loads "
        "(no target of its own: (b) is the issue's)"
    )
    print(
        f"  round trips            {vote.accepted / vote.seconds:8.1f} /s   statuses serve {serve.statuses} "
        f"vote {vote.statuses} progress {progress.statuses}"
    )
    print(f"  serve p50/p99          {serve.pct(0.5):6.1f} / {serve.pct(0.99):.1f} ms")
    print(f"  vote  p50/p99          {vote.pct(0.5):6.1f} / {vote.pct(0.99):.1f} ms")
    print(f"  progress p50/p99       {progress.pct(0.5):6.1f} / {progress.pct(0.99):.1f} ms")


def _stored_votes() -> int:
    from arena.models import Verdict
    from arena.services.battles import people_source

    return Verdict.objects.filter(source=people_source(), dimension__slug="overall").count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=10000, help="measured vote POSTs (one annotator each)")
    parser.add_argument(
        "--clients",
        type=int,
        default=12,
        help="concurrent keep-alive connections (closed loop: latency ≈ clients ÷ throughput)",
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads per gunicorn worker (0: sync workers)"
    )
    parser.add_argument("--round-trip-seconds", type=float, default=8.0)
    parser.add_argument("--round-trip-clients", type=int, default=16)
    parser.add_argument(
        "--round-trip-warmup",
        type=float,
        default=0.0,
        help="seconds of round trips by other browsers before (b) is measured (0: none, as the bench always did); "
        "fills the shared rendered-answer cache as a running arena has it",
    )
    parser.add_argument(
        "--asgi",
        action="store_true",
        help="serve as compose does (docker-compose.yml's web command and settings: gunicorn with uvicorn "
        "workers, ASGI, pooled connections) instead of WSGI; --workers and --threads are then unused",
    )
    parser.add_argument(
        "--votes-only", action="store_true", help="run (a) only, not the round trips of (b) and (c)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="leave out (c), the round trips with the progress fragment"
    )
    args = parser.parse_args()

    scratch = Scratch(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if not scratch.server_url.startswith("postgres"):
        raise SystemExit(
            f"DATABASE_URL must point at a PostgreSQL server (got {scratch.server_url!r}); the bench creates a scratch database there."
        )
    static_root = tempfile.mkdtemp(prefix="arena-bench-static-")
    env = server_env(scratch, static_root)
    scratch.create()
    server = None
    try:
        print(f"Scratch database {scratch.name}: migrating and seeding ...", flush=True)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "-v0")
        django_setup(env)
        task, battles = seed_arena(n_prompts=120, n_contenders=8)
        warm = seed_people("warm", 400)
        measured = seed_people("voter", args.votes)
        browsing = seed_people("browser", args.round_trip_clients)
        browsing_whole = [] if args.no_browser else seed_people("whole-browser", args.round_trip_clients)
        warm_browsing = seed_people("warm-browser", args.round_trip_clients) if args.round_trip_warmup else []
        serve_directly(task, battles, warm + measured)
        from django.db import connection

        connection.close()  # the bench process holds no connection while gunicorn works
        port = free_port()
        if args.asgi:
            server, shape = start_deployed(env, port)
        else:
            server = start_gunicorn(env, port, args.workers, args.threads)
            shape = f"{args.workers} workers × {args.threads} threads"
        print(
            f"gunicorn on 127.0.0.1:{port}: {shape}; {args.clients} client connections; {os.cpu_count()} CPUs\n",
            flush=True,
        )
        asyncio.run(
            vote_phase(port, [p for _, p in warm], args.clients)
        )  # warm up workers, connections, caches
        before = _stored_votes()
        phase, load_before = PhaseCpu(server.pid, scratch.name), os.getloadavg()[0]
        client_before = time.process_time()
        tally = asyncio.run(vote_phase(port, [p for _, p in measured], args.clients))
        cpu = phase.seconds()
        client_ms = 1000 * (time.process_time() - client_before) / max(tally.accepted, 1)
        report_votes(
            f"(a) Vote POSTs: {args.votes} annotators, each voting once on the battle served to them",
            tally,
            _stored_votes() - before,
        )
        report_cpu(cpu, tally.accepted, load_before)
        # The client shares the cores with the server it measures: what it takes of them.
        print(f"  client CPU per vote    {client_ms:.2f} ms (this bench process)")
        if args.votes_only:
            return 0
        if warm_browsing:
            asyncio.run(
                round_trip_phase(port, [p for _, p in warm_browsing], args.round_trip_warmup, task.slug)
            )
        phase = PhaseCpu(server.pid, scratch.name)
        serve, vote = asyncio.run(
            round_trip_phase(port, [p for _, p in browsing], args.round_trip_seconds, task.slug)
        )
        cpu = phase.seconds()
        print()
        report_round_trips(serve, vote)
        report_round_trip_cpu(cpu, vote.accepted)
        print(f"  load average now       {os.getloadavg()[0]:.1f}")
        if browsing_whole:
            phase, progress = PhaseCpu(server.pid, scratch.name), Tally()
            serve, vote = asyncio.run(
                round_trip_phase(
                    port,
                    [p for _, p in browsing_whole],
                    args.round_trip_seconds,
                    task.slug,
                    progress=progress,
                )
            )
            cpu = phase.seconds()
            print()
            report_browser_round_trips(serve, vote, progress)
            report_round_trip_cpu(cpu, vote.accepted)
            print(f"  load average now       {os.getloadavg()[0]:.1f}")
        # A missed target is reported (MISS above), not an error: scripts/bench.sh fails only on crashes.
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        from django.db import connections

        connections.close_all()
        scratch.drop()
        shutil.rmtree(static_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
