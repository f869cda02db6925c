"""Fanned-out recompute of a whole arena over "ratings" workers: 1 worker beside 2, and a refit after new votes.

Run from the repository root: ``.venv/bin/python bench/bench_recompute_fanout.py`` (``scripts/bench.sh``
provisions PostgreSQL and Redis and runs it with the others). Not part of the test run.

The arena (issue 13): 100 contenders, 1,000 prompts in 5 categories, 40,000 battles, and 1,000,000 verdicts:
three LLM judges on every battle and all 6 dimensions (720,000), people on every battle twice on "overall"
and once on each other dimension (280,000). Boards: (people, 3 judges, the judges' pool) × 6 dimensions ×
(all + 5 categories) = 180, style control on, 100 bootstrap rounds, judge boards calibrated by people.

Timed, end to end (a `leaderboard.recompute` task sent until its run is stored), with warm workers (each has
read the battle table, as a long-running worker has):
- every board fitted (previous runs deleted first, so nothing is reused), with 1 and with 2 worker processes
  (prefork, one child each): target ≤ 30 s with 2 on a 2-core machine;
- after 1,000 new people's votes on one dimension, with 2 workers: only the boards those votes touch are
  refitted (that dimension's people boards over all and each category they fall in, and the judges'
  calibrated boards on it, whose labelled battles changed); the rest are copied.
Workers' CPU time (process and children) is printed beside the wall time: the machine may be shared.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from bench.verdict_database import Shape, battles_load, categories_assign, rows_copy, scratch_database  # noqa: E402

TARGET_SECONDS = 30.0
JUDGES = 3
CATEGORIES = 5
NEW_VOTES = 1000
VERDICT_COLUMNS = (
    "battle_id, dimension_id, source_id, contender_a_id, contender_b_id, voter_key, outcome, score, "
    "inconsistent, excluded, created"
)
OUTCOMES = np.array(["a", "b", "tie", "both_bad"])
SCORES = np.array([1.0, 0.0, 0.5, 0.5])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=40_000, help="battles (verdicts: 25 per battle)")
    parser.add_argument("--contenders", type=int, default=100)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    prefix = f"benchfanout{os.getpid()}:"
    os.environ.update(
        CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url, ARENA_REDIS_PREFIX=prefix, LOG_LEVEL="WARNING",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"), DEBUG="0",
    )  # fmt: skip
    try:
        with scratch_database() as url:
            run(args, url)
    finally:
        purge_redis(redis_url, prefix)


def run(args: argparse.Namespace, url: str) -> None:
    print(f"{os.cpu_count()} CPUs, load average {load()} at the start")
    started = time.perf_counter()
    n_verdicts = arena_load(args.battles, args.contenders)
    print(
        f"loaded {n_verdicts:,} verdicts on {args.battles:,} battles in {time.perf_counter() - started:.1f} s"
    )
    figures = {}
    for n_workers in (1, 2):
        with ratings_workers(n_workers, url) as workers:
            runs_delete()
            figures[n_workers] = timed_recompute(workers)
            report(
                f"every board fitted, {n_workers} ratings worker{'s' * (n_workers > 1)}", figures[n_workers]
            )
            if n_workers == 2:
                refit_after_new_votes(workers)
    one, two = figures[1]["seconds"], figures[2]["seconds"]
    print(f"scaling: 1 → 2 workers {one / two:.2f}× faster (ideal 2×); load average {load()} at the end")
    verdict = "PASS" if two <= TARGET_SECONDS else "MISS"
    print(f"fan-out recompute, {figures[2]['boards']} boards from {n_verdicts:,} verdicts, 2 ratings workers: "
          f"{two:.1f} s (1 worker: {one:.1f} s)  target ≤ {TARGET_SECONDS:g} s  {verdict}")  # fmt: skip


def refit_after_new_votes(workers: list[subprocess.Popen]) -> None:
    """NEW_VOTES people's votes on "helpfulness", then a recompute: which boards were refitted, how fast."""
    from django.db.models import F

    from arena.models import Battle, Dimension, Source
    from leaderboard.models import Snapshot

    helpfulness = Dimension.objects.get(slug="helpfulness")
    rng = np.random.default_rng(7)
    battles = list(
        Battle.objects.order_by("?").values_list("id", "contender_a_id", "contender_b_id")[:NEW_VOTES]
    )
    people = Source.objects.get(kind=Source.Kind.HUMAN)
    lines = "".join(
        f"{battle}\t{helpfulness.pk}\t{people.pk}\t{a}\t{b}\ts:late\t{o}\t{s}\tf\tf\tnow\n"
        for (battle, a, b), o, s in zip(battles, *_outcomes(rng, len(battles)), strict=True)
    )
    rows_copy("arena_verdict", VERDICT_COLUMNS, lines)
    figure = timed_recompute(workers)
    refitted = Snapshot.objects.filter(run_id=figure["run"], computed__gte=F("run__started"))
    touched = set(refitted.values_list("source_kind", "dimension__slug", "category"))
    expected = {("human", "helpfulness", "")} | {
        ("human", "helpfulness", f"cat{i}") for i in range(CATEGORIES)
    }
    expected |= {("judge", "helpfulness", "")}  # calibrated: their labelled battles changed
    report(f"after {NEW_VOTES:,} new votes on one dimension, 2 workers", figure)
    kinds = sorted(touched)
    print(f"    refitted {refitted.count()} of {figure['boards']} boards: {kinds}")
    verdict = "PASS" if touched == expected and refitted.count() == 6 + JUDGES else "MISS"
    print(f"refit after {NEW_VOTES:,} votes refits only the boards they touch "
          f"({refitted.count()} boards, {figure['seconds']:.1f} s)  {verdict}")  # fmt: skip


def timed_recompute(workers: list[subprocess.Popen]) -> dict:
    from arena.celery import app
    from leaderboard.models import RecomputeRun

    last = RecomputeRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    cpu_before = workers_cpu(workers)
    started = time.perf_counter()
    app.send_task("leaderboard.recompute", kwargs={"trigger": "bench"})
    while True:
        run = RecomputeRun.objects.filter(pk__gt=last).exclude(status="running").first()
        if run is not None:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if run.status != "done":
        raise SystemExit(f"the recompute failed: {run.error}")
    return {
        "seconds": seconds,
        "cpu": workers_cpu(workers) - cpu_before,
        "boards": run.n_snapshots,
        "failed": run.n_failed,
        "run": run.pk,
    }


def report(label: str, figure: dict) -> None:
    print(
        f"{label:<58} {figure['seconds']:>7.1f} s   workers' CPU {figure['cpu']:.1f} s, "
        f"{figure['boards']} boards ({figure['failed']} not fitted), load average {load()}"
    )


class ratings_workers:  # noqa: N801  (a context manager used like a function)
    """`n` worker processes on the "ratings" queue (prefork, one child each), warm when entered."""

    def __init__(self, n: int, url: str):
        self.n, self.url = n, url
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> list[subprocess.Popen]:
        env = {**os.environ, "DATABASE_URL": self.url}
        for i in range(self.n):
            cmd = [sys.executable, "-m", "celery", "-A", "arena", "worker", "-l", "info", "-P", "prefork",
                   "-c", "1", "-Q", "ratings", "-n", f"ratings{i}@%h", "--without-gossip", "--without-mingle",
                   "--without-heartbeat"]  # fmt: skip
            log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-fanout-worker{i}.log", "w")  # noqa: SIM115
            self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_warm(self.procs)
        return self.procs

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(60)


def wait_warm(procs: list[subprocess.Popen], timeout: float = 300) -> None:
    """Until every worker logged that its battle table is warm."""
    logs = [Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-fanout-worker{i}.log" for i in range(len(procs))]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all("Battle table warmed" in log.read_text() for log in logs):
            return
        if any(proc.poll() is not None for proc in procs):
            raise SystemExit(
                "a ratings worker exited:\n" + "\n".join(log.read_text()[-2000:] for log in logs)
            )
        time.sleep(0.2)
    raise SystemExit(f"the ratings workers were not warm within {timeout:g} s")


def workers_cpu(procs: list[subprocess.Popen]) -> float:
    """User + system CPU seconds of the workers and their pool children, so far."""
    pids = {proc.pid for proc in procs}
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) in pids or int(fields[1]) in pids:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def arena_load(n_battles: int, n_contenders: int) -> int:
    """The arena of the module docstring; returns the number of verdicts written."""
    from django.db import connection

    from arena.models import Dimension, Source
    from arena.services.battles import people_source, source_get_or_create

    shape = Shape(contenders=n_contenders, prompts=1000, battles_per_prompt=n_battles // 1000)
    battle_ids, a, b = battles_load(shape)
    categories_assign(CATEGORIES)
    dimensions = list(
        Dimension.objects.filter(is_active=True).order_by("position").values_list("id", flat=True)
    )
    judges = [
        source_get_or_create(kind=Source.Kind.JUDGE, key=f"judge-{i}", name=f"Judge {i}").pk
        for i in range(JUDGES)
    ]
    rng = np.random.default_rng(20240601)
    ids = np.unique(np.concatenate([a, b])).tolist()
    strength = dict(zip(ids, rng.normal(0, 1, len(ids)).tolist(), strict=True))
    written = 0
    for dimension in dimensions:
        for judge in judges:
            written += _verdicts(rng, battle_ids, a, b, strength, dimension, judge, voter="")
        voters = 2 if dimension == dimensions[0] else 1
        for voter in range(voters):
            written += _verdicts(
                rng, battle_ids, a, b, strength, dimension, people_source().pk, f"s:v{voter}"
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return written


def _verdicts(rng, battle_ids, a, b, strength, dimension: int, source: int, voter: str) -> int:
    gap = np.array([strength[x] - strength[y] for x, y in zip(a.tolist(), b.tolist(), strict=True)])
    outcomes, scores = _outcomes(rng, len(battle_ids), gap)
    out = io.StringIO()
    for battle, ca, cb, outcome, score in zip(
        battle_ids.tolist(), a.tolist(), b.tolist(), outcomes, scores, strict=True
    ):
        out.write(f"{battle}\t{dimension}\t{source}\t{ca}\t{cb}\t{voter}\t{outcome}\t{score}\tf\tf\tnow\n")
    rows_copy("arena_verdict", VERDICT_COLUMNS, out.getvalue())
    return len(battle_ids)


def _outcomes(rng, n: int, gap: np.ndarray | None = None) -> tuple[list[str], list[float]]:
    """Outcomes for side A: 15 % ties, 5 % both bad, else A wins with the logistic of the strength gap."""
    p_a = 1 / (1 + np.exp(-(gap if gap is not None else np.zeros(n))))
    draw = rng.random(n)
    code = np.where(draw < 0.15, 2, np.where(draw < 0.2, 3, np.where(rng.random(n) < p_a, 0, 1)))
    return OUTCOMES[code].tolist(), SCORES[code].tolist()


def runs_delete() -> None:
    from leaderboard.models import RecomputeRun

    RecomputeRun.objects.all().delete()


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def purge_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


if __name__ == "__main__":
    main()
