"""Leaderboard page latency: 200 contenders, 1,000,000 verdicts, served from stored snapshots. Prints figures.

Run from the repository root with PostgreSQL and Redis up (``scripts/bench.sh`` provisions both):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_leaderboard_page.py [--requests 200]

In a scratch database (created, migrated and dropped here): COPY in 200 contenders and 1M battles with one
people's verdict each, run one recompute (storing the snapshots), then GET ``/leaderboard/`` through Django's
full request stack (middleware, sessions, templates; in process, so no network or server workers are timed)
— first once (the page's first view after a recompute), then ``--requests`` times — and print p50 and p99.
Targets (issue 13): p50 ≤ 50 ms, p99 ≤ 150 ms. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from bench.verdict_database import Shape, scratch_database, verdicts_load  # noqa: E402

TARGET_P50_MS = 50.0
TARGET_P99_MS = 150.0
SHAPE = Shape(contenders=200, prompts=1000, battles_per_prompt=1000, votes_per_battle=1)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def page_latencies_ms(requests: int) -> tuple[float, list[float], list[float], int]:
    """(first request's ms, the following requests' wall ms and CPU ms, page size in bytes).

    CPU time is this process's (request handling and the test client; PostgreSQL's is not counted): unlike the
    wall time it hardly grows when other jobs share the cores."""
    from django.test import Client

    client = Client()
    first_start = time.perf_counter()
    response = client.get("/leaderboard/")
    first_ms = 1000 * (time.perf_counter() - first_start)
    if response.status_code != 200:
        raise SystemExit(f"GET /leaderboard/ answered {response.status_code}")
    latencies, cpu = [], []
    for _ in range(requests):
        start, cpu_start = time.perf_counter(), time.process_time()
        response = client.get("/leaderboard/")
        latencies.append(1000 * (time.perf_counter() - start))
        cpu.append(1000 * (time.process_time() - cpu_start))
        assert response.status_code == 200
    return first_ms, latencies, cpu, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("skipped: DATABASE_URL does not name a PostgreSQL server (run scripts/bench.sh)")
        return
    with scratch_database():
        from django.conf import settings

        from leaderboard.services.recompute import leaderboards_recompute

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        started = time.perf_counter()
        counts = verdicts_load(SHAPE)
        print(
            f"loaded {counts['verdicts']:,} verdicts, {counts['battles']:,} battles, {counts['contenders']} "
            f"contenders with COPY in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        run = leaderboards_recompute(trigger="bench")
        print(f"recompute: {run.n_snapshots} leaderboard(s) stored in {time.perf_counter() - started:.1f} s")
        first_ms, latencies, cpu, size = page_latencies_ms(args.requests)
        p50, p99 = np.percentile(latencies, [50, 99])
        cpu_p50, cpu_p99 = np.percentile(cpu, [50, 99])
        print(
            f"GET /leaderboard/ ({size / 1e6:.2f} MB of HTML): first view after the recompute {first_ms:.1f} ms"
        )
        print(f"  p50 {p50:7.1f} ms   target ≤ {TARGET_P50_MS:g} ms   {verdict(p50 <= TARGET_P50_MS)}")
        print(f"  p99 {p99:7.1f} ms   target ≤ {TARGET_P99_MS:g} ms   {verdict(p99 <= TARGET_P99_MS)}")
        print(f"  CPU time of this process per request: p50 {cpu_p50:.1f} ms, p99 {cpu_p99:.1f} ms")
        print(
            f"  ({args.requests} requests, one at a time; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)"
        )


if __name__ == "__main__":
    main()
