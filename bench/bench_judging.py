"""Judging throughput: 2,000 judgments through real Celery workers on Redis and PostgreSQL, against the
loopback stub (a subprocess) answering each call after 200 ms, with the judge's concurrency limit at 64.

Ideal: 64 calls in flight, each 0.2 s → 320 calls/s. Target (issue 13): at least 90 % of that, measured from the first
claim to the last result of the timed campaign (after a small warm-up campaign, so the workers have their
connections), and printed with PASS/MISS. Also printed: the end-to-end time including planning and queueing,
how much of the limit the claims used (the ramp until it is full, the mean, the tail after it was last full;
`--timeline` per 250 ms), and the CPU each judgment costs the workers, the stub, PostgreSQL and Redis, with how busy the machine was
(the figure is only meaningful when nothing else competes for the cores); target ≤ 3 ms CPU per judgment in all.

Run from the repository root, with PostgreSQL and Redis up (the same services `make test` uses):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python bench/bench_judging.py [--workers 6] [--threads 8] [--judgments 2000] [--own-postgres]

With `--own-postgres` the bench starts a throwaway PostgreSQL server of its own (room for every worker
thread's connection) instead of using DATABASE_URL's server, whose `max_connections` is shared.

A scratch database is created on the DATABASE_URL server, migrated, seeded, used and dropped; Redis keys
live under a scratch prefix that is deleted afterwards. Not part of the test run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

TARGET = 0.90
TARGET_CPU_MS = 3.0
CONTENDERS = 5  # 10 pairs per prompt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judgments", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64, help="the judge config's limit")
    parser.add_argument("--workers", type=int, default=6, help="worker processes sharing the limit")
    parser.add_argument(
        "--threads", type=int, default=0, help="threads per worker (default: limit / workers)"
    )
    parser.add_argument(
        "--timeline", action="store_true",
        help="also print, per 250 ms of the judging window, the claims held on average and the judgments finished",
    )  # fmt: skip
    parser.add_argument(
        "--own-postgres", action="store_true",
        help="start a throwaway PostgreSQL (max_connections to fit the workers) on a free loopback port, "
        "instead of a scratch database on DATABASE_URL's server",
    )  # fmt: skip
    return parser.parse_args()


def scratch_database(server_url: str) -> tuple[str, str]:
    """(admin URL, scratch URL): a fresh database on the same server."""
    import psycopg

    parts = urlsplit(server_url)
    name = f"arena_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url, urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(server_url: str, scratch_url: str) -> None:
    import psycopg

    name = urlsplit(scratch_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "tests.support.openai_stub", "--port", "0", "--latency", str(latency),
           "--script", "prefer-marker"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"the stub did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def check_connections(needed: int) -> None:
    """Refuse to start when the workers' connections would not fit in PostgreSQL's `max_connections`: a
    refused connection fails its task, and without beat's sweep (not run here) the campaign never ends."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int, (SELECT count(*) FROM pg_stat_activity)"
        )
        limit, used = cursor.fetchone()
    if needed > limit - used - 3:  # the superuser reserve
        raise SystemExit(
            f"the workers need {needed} PostgreSQL connections but only {limit - used - 3} of max_connections="
            f"{limit} are free ({used} in use): raise max_connections, or use fewer --workers/--threads"
        )


def start_workers(n: int, threads: int) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        cmd = [sys.executable, "-m", "celery", "-A", "arena", "worker", "-l", "warning", "-P", "threads",
               "-c", str(threads), "-Q", "judge", "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    return procs


def wait_for_workers(n: int, timeout: float = 60) -> None:
    from arena.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= n:
            return
    raise SystemExit("workers did not answer a ping within 60 s")


def seed(base_url: str, n_prompts: int, concurrency: int):
    """Contenders, the judge, and two prompt sets with outputs and every battle (so the timed part is judging,
    not planning): "bench" for the measurement, a small "bench-warmup" to warm the workers up first."""
    from arena.models import Contender, Dimension
    from judges.services.configs import JudgeConfigData, judge_config_create

    Dimension.objects.get_or_create(slug="overall", defaults={"name": "Overall", "rubric": "Better overall."})
    contenders = [
        Contender.objects.create(slug=f"c{i}", name=f"C{i}", status="approved") for i in range(CONTENDERS)
    ]
    data = JudgeConfigData(name="Bench judge", provider="openai", model="stub-model", base_url=base_url,
                           dimensions=["overall"], concurrency_limit=concurrency, timeout_seconds=10)  # fmt: skip
    judge_config_create(slug="bench-judge", data=data)
    return (
        seed_prompt_set("bench", n_prompts, contenders),
        seed_prompt_set("bench-warmup", 8, contenders),
        contenders,
    )


def seed_prompt_set(slug: str, n_prompts: int, contenders):
    from arena.models import Output, Prompt, PromptSet
    from arena.services.battles import battles_ensure_all_pairs
    from arena.services.style import style_counts

    prompt_set = PromptSet.objects.create(slug=slug, name=slug)
    prompts = Prompt.objects.bulk_create(
        Prompt(
            prompt_set=prompt_set,
            external_id=f"p{i}",
            text=f"{slug} question {i}: what is {i} + {i}?",
            reference_answer=str(2 * i),
        )  # fmt: skip
        for i in range(n_prompts)
    )
    outputs = []
    for c in contenders:
        for p in prompts:
            text = f"{c.slug} says {p.reference_answer}" + (" PREFERRED" if c.slug == "c0" else "")
            outputs.append(Output(contender=c, prompt=p, text=text, **style_counts(text)))
    Output.objects.bulk_create(outputs)
    battles_ensure_all_pairs(prompt_set_id=prompt_set.pk, contender_ids=[c.pk for c in contenders], seed=1)
    return prompt_set


def warm_up(prompt_set, contenders) -> None:
    """Run a small campaign first: the measurement is of running workers, not of their first connections
    (a PostgreSQL backend, prepared statements and an HTTP connection per thread)."""
    from judges.models import Campaign
    from judges.services.campaigns import CampaignSpec, campaign_start

    spec = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug, judges=["bench-judge"]
    )
    campaign = campaign_start(spec=spec)
    while Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get() == "running":
        time.sleep(0.05)


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    stub, base_url = start_stub(args.latency)
    workers: list[subprocess.Popen] = []
    try:
        prompt_set, warmup_set, contenders = seed(
            base_url, args.judgments // (2 * CONTENDERS * (CONTENDERS - 1) // 2), args.concurrency
        )
        threads = _threads(args)
        check_connections(args.workers * (threads + 1))  # a connection per thread, and the lease keeper's
        workers = start_workers(args.workers, threads)
        wait_for_workers(args.workers)
        warm_up(warmup_set, contenders)
        measure(args, prompt_set, contenders, base_url, threads, [p.pid for p in workers], stub.pid)
    finally:
        for proc in [*workers, stub]:
            proc.terminate()
        for proc in [*workers, stub]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def measure(
    args, prompt_set, contenders, base_url: str, threads: int, worker_pids: list[int], stub_pid: int
) -> None:
    from judges.models import Campaign, Judgment
    from judges.services.campaigns import CampaignSpec, campaign_start

    spec = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug, judges=["bench-judge"]
    )
    before = _cpu_snapshot(worker_pids, stub_pid)
    started = time.perf_counter()
    campaign = campaign_start(spec=spec)  # plans, creates 2,000 pending judgments, queues them on commit
    planned = time.perf_counter() - started
    while Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get() == "running":
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    used = _cpu_snapshot(worker_pids, stub_pid) - before
    done = Judgment.objects.filter(campaign=campaign, status="done").count()
    report(args, campaign, base_url, threads, done, (planned, elapsed), used)


def report(
    args, campaign, base_url: str, threads: int, done: int, times: tuple[float, float], used: dict
) -> None:
    from tests.support.openai_stub import stub_stats

    planned, elapsed = times
    judging = _judging_seconds(campaign)
    stats, ideal, rate = stub_stats(base_url), args.concurrency / args.latency, done / judging
    per = {name: 1000 * seconds / max(done, 1) for name, seconds in used.items()}
    ours = per["workers"] + per["stub"] + per["postgres"] + per["redis"]
    ours_s = sum(used[k] for k in ("workers", "stub", "postgres", "redis", "driver"))
    others = (used["machine_busy"] - ours_s) / elapsed
    print(
        f"judgments: {done} done; stub requests {stats['requests']}, max in flight {stats['max_concurrency']}"
    )
    print(f"per judgment: {_held(campaign)}")
    print(f"limit use: {_limit_use(campaign, args.concurrency, timeline=args.timeline)}")
    print(f"CPU per judgment: workers {per['workers']:.1f} ms, stub {per['stub']:.1f} ms, "
          f"PostgreSQL {per['postgres']:.1f} ms, Redis {per['redis']:.1f} ms (sum {ours:.1f} ms: "
          f"{os.cpu_count()} idle cores would allow ~{os.cpu_count() * 1000 / ours:.0f} calls/s)  "
          f"target ≤ {TARGET_CPU_MS:g} ms  {'PASS' if ours <= TARGET_CPU_MS else 'MISS'}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, {100 * used['machine_busy'] / used['machine_total']:.0f} % busy; "
          f"processes outside this benchmark used {others:.2f} cores meanwhile")  # fmt: skip
    print(
        f"workers: {args.workers} × {threads} threads; latency {args.latency * 1000:.0f} ms; limit {args.concurrency}"
    )
    print(
        f"end to end: {elapsed:.2f} s (planning and queueing {planned:.2f} s; {used['driver']:.2f} s of CPU in this "
        f"process) = {done / elapsed:.1f} calls/s"
    )
    verdict = "PASS" if rate >= TARGET * ideal else "MISS"
    print(f"judging: {done} judgments in {judging:.2f} s (first claim to last result) = {rate:.1f} calls/s; "
          f"ideal {ideal:.0f} calls/s; {100 * rate / ideal:.1f} % of ideal (target ≥ {TARGET:.0%})  {verdict}")  # fmt: skip


def _judging_seconds(campaign) -> float:
    from django.db.models import Max, Min

    from judges.models import Judgment

    span = Judgment.objects.filter(campaign=campaign).aggregate(
        first=Min("claimed_at"), last=Max("finished_at")
    )
    return (span["last"] - span["first"]).total_seconds()


class _Cpu(dict):
    def __sub__(self, other: dict) -> dict:
        return {key: self[key] - other.get(key, 0.0) for key in self}


def _cpu_snapshot(worker_pids: list[int], stub_pid: int) -> _Cpu:
    """CPU seconds used so far by the workers, the stub, this database's PostgreSQL backends, the machine."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        backends = [pid for (pid,) in cursor.fetchall()]
    busy, total = _machine_cpu()
    redis_pid = _redis_pid()
    return _Cpu(workers=_process_cpu(worker_pids), stub=_process_cpu([stub_pid]), postgres=_process_cpu(backends),
                redis=_process_cpu([redis_pid] if redis_pid else []), driver=_process_cpu([os.getpid()]),
                machine_busy=busy, machine_total=total)  # fmt: skip


def _redis_pid() -> int | None:
    """The Redis server's pid when it runs on this machine (it is shared, so its CPU is an upper bound)."""
    import redis

    try:
        pid = redis.Redis.from_url(os.environ["REDIS_URL"]).info("server")["process_id"]
    except redis.RedisError:
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (Linux /proc); a process already gone counts 0."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, ticks = values[3] + values[4], os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks


def _held(campaign) -> str:
    """Mean endpoint latency vs. mean time a claim was held: the difference is our own per-call overhead."""
    from django.db.models import Avg, F

    from judges.models import Judgment

    row = Judgment.objects.filter(campaign=campaign).aggregate(
        latency=Avg("latency_ms"), held=Avg(F("finished_at") - F("claimed_at"))
    )
    return f"endpoint latency {row['latency']:.0f} ms, claim held {row['held'].total_seconds() * 1000:.0f} ms"


def _limit_use(campaign, limit: int, *, timeline: bool = False) -> str:
    """Where the judging window loses calls against the limit: the ramp (first claim until `limit` claims are
    held at once), the middle (mean claims held), and the tail (after the last moment the limit was full).
    A claim runs from a row's (last) claim to its result, so a slot a batch carries between two calls, while
    its thread stores one result and claims the next row, counts as not held: that gap is per-call overhead."""
    from judges.models import Judgment

    rows = Judgment.objects.filter(campaign=campaign).values_list("claimed_at", "finished_at")
    spans: list[tuple[datetime, datetime]] = [(c, f) for c, f in rows if c is not None and f is not None]
    events = sorted([(c, 1) for c, _ in spans] + [(f, -1) for _, f in spans])
    start, end = events[0][0], events[-1][0]
    held, full_at, last_full, area, previous = 0, None, start, 0.0, start
    for moment, step in events:
        area += held * (moment - previous).total_seconds()
        held, previous = held + step, moment
        if held >= limit:
            full_at = full_at or moment
            last_full = moment
    window = (end - start).total_seconds()
    if timeline:
        _print_timeline(spans, start, window)
    ramp = ((full_at or end) - start).total_seconds()
    tail = (end - last_full).total_seconds()
    return (
        f"{area / window:.1f} claims held on average of {limit}; full after {ramp * 1000:.0f} ms, "
        f"last full {tail * 1000:.0f} ms before the end of a {window:.2f} s window"
    )


def _print_timeline(spans: list[tuple[datetime, datetime]], start: datetime, window: float) -> None:
    step = timedelta(seconds=0.25)
    for k in range(int(window / 0.25) + 1):
        lo = start + k * step
        hi = lo + step
        busy = 0.0
        finished = 0
        for claimed, done in spans:
            busy += max(0.0, (min(done, hi) - max(claimed, lo)).total_seconds()) / 0.25
            finished += lo <= done < hi
        print(f"  t={0.25 * k:5.2f} claims held {busy:5.1f}, finished {finished}")


def purge_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


def main() -> None:
    args = parse_args()
    if not args.own_postgres:
        in_scratch_services(run, args, prefix=f"bench{os.getpid()}:")
        return
    with throwaway_postgres(max_connections=args.workers * (_threads(args) + 1) + 30) as url:
        os.environ["DATABASE_URL"] = url
        in_scratch_services(run, args, prefix=f"bench{os.getpid()}:")


def _threads(args: argparse.Namespace) -> int:
    # More threads than the limit: a thread also loads, stores and settles outside its call.
    return args.threads or max(1, (3 * args.concurrency) // (2 * args.workers))


@contextlib.contextmanager
def throwaway_postgres(*, max_connections: int) -> Iterator[str]:
    """A PostgreSQL server of our own on a free loopback port (as scripts/services.sh starts one for the
    tests), with room for every worker thread's connection; stopped and deleted afterwards."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not found:
        raise SystemExit("--own-postgres needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    bindir, tmp = found[-1], Path(tempfile.mkdtemp(prefix="bench-judging-pg."))
    tmp.chmod(0o755)
    data, as_postgres = tmp / "data", (["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else [])
    data.mkdir()
    if os.getuid() == 0:
        shutil.chown(data, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    options = f"-p {port} -k {data} -h 127.0.0.1 -c max_connections={max_connections}"
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w",
                    "-o", options, "start"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, check=False)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


def in_scratch_services(run, args: argparse.Namespace, *, prefix: str) -> None:
    """`run(args)` with Django set up on a scratch database and a scratch Redis prefix, both dropped after."""
    server_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    _, scratch_url = scratch_database(server_url)
    os.environ.update(
        DATABASE_URL=scratch_url, CELERY_BROKER_URL=redis_url, REDIS_URL=redis_url, ARENA_REDIS_PREFIX=prefix,
        DB_CONN_MAX_AGE="600", SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"), DEBUG="0",
        DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "arena.settings"), LOG_LEVEL="WARNING",
    )  # fmt: skip
    try:
        import django

        django.setup()
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(server_url, scratch_url)
        purge_redis(redis_url, prefix)


if __name__ == "__main__":
    main()
