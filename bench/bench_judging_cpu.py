"""CPU per judgment of the worker's own code, in one process: a figure that holds on a loaded machine.

`bench_judging.py` measures the whole system (Celery workers, broker, stub, PostgreSQL, Redis) and its
throughput depends on having the cores to itself. This one runs `judgment_run` directly, in a few threads of
this process, against the loopback stub (a subprocess answering at once), and divides the CPU time of this
process and of its PostgreSQL backends by the number of judgments. Celery's share is left out (it is per
task, and tasks carry batches); what remains is what the judging code spends per judgment, which is what
changes when that code changes. `--profile` prints the functions that cost the most (one thread, cProfile).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python bench/bench_judging_cpu.py [--judgments 600] [--threads 8] [--profile]

Scratch database and Redis prefix as in `bench_judging.py`, dropped afterwards. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_judging import (  # noqa: E402 (the path above first)
    CONTENDERS,
    _process_cpu,
    in_scratch_services,
    seed,
    start_stub,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judgments", type=int, default=600)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1, help="ids per judgments_run call (1: judgment_run)")
    parser.add_argument("--profile", action="store_true", help="one thread under cProfile, top functions")
    return parser.parse_args()


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    stub, base_url = start_stub(0.0)
    try:
        n_prompts = max(1, args.judgments // (2 * CONTENDERS * (CONTENDERS - 1) // 2))
        prompt_set, warmup_set, contenders = seed(base_url, n_prompts, 64)
        warm_inline(warmup_set, contenders)
        measure(args, prompt_set, contenders, stub.pid)
    finally:
        stub.terminate()
        stub.wait(20)


def warm_inline(prompt_set, contenders) -> None:
    """The warm-up campaign, judged here: connections, prepared statements and caches are in place."""
    _judge_counting_backends(_campaign_ids(prompt_set, contenders), threads=4)


def _campaign_ids(prompt_set, contenders) -> list[int]:
    from judges.models import Judgment
    from judges.services.campaigns import CampaignSpec, campaign_start

    spec = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug, judges=["bench-judge"]
    )
    campaign = campaign_start(spec=spec)
    return list(Judgment.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True))


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def measure(args, prompt_set, contenders, stub_pid: int) -> None:
    ids = _campaign_ids(prompt_set, contenders)
    if args.profile:
        profile(ids, args.batch)
        return
    before, commits, updated_before = _cpu_now(stub_pid), _commits(), _judgment_updates()
    started = time.perf_counter()
    outcomes, pg_cpu = _judge_counting_backends(ids, threads=args.threads, batch=args.batch)
    elapsed = time.perf_counter() - started
    used = {k: v - before[k] for k, v in _cpu_now(stub_pid).items()}
    time.sleep(1.5)  # backends report their counts within a second, and when they close
    commits = _commits() - commits
    updates = [now - then for now, then in zip(_judgment_updates(), updated_before, strict=True)]
    done = outcomes.count("done")
    print(f"judgments: {done} done of {len(ids)} ({args.threads} threads, batches of {args.batch}, "
          f"{elapsed:.1f} s wall); "
          f"{commits / done:.2f} database transactions (round trips) per judgment; "
          f"{updates[0] / done:.2f} updates of judgment rows per judgment, "
          f"{100 * updates[1] / max(1, updates[0]):.0f} % of them HOT")  # fmt: skip
    print(
        f"CPU per judgment: this process {1000 * used['process'] / done:.2f} ms, its PostgreSQL backends "
        f"{1000 * pg_cpu / done:.2f} ms, stub {1000 * used['stub'] / done:.2f} ms "
        f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def _judge_counting_backends(ids: list[int], *, threads: int, batch: int = 1) -> tuple[list[str], float]:
    """Judge every id; the CPU the threads' PostgreSQL backends spent meanwhile (read before they close)."""
    from django.db import connection

    outcomes: list[str] = []
    spent = [0.0]
    lock = threading.Lock()
    ready = threading.Barrier(threads)

    def work(mine: list[int]) -> None:
        pid = _backend_pid()
        ready.wait()
        start = _process_cpu([pid])
        try:
            for outcome in _judged(mine, batch):
                with lock:
                    outcomes.append(outcome)
        finally:
            with lock:
                spent[0] += _process_cpu([pid]) - start
            connection.close()

    # Batches of neighbouring ids, dealt out to the threads, as the queue deals a campaign's batch tasks out
    # to worker threads (a battle's two orders are neighbours: `enqueue.judgment_batches`).
    chunks = [ids[start : start + batch] for start in range(0, len(ids), batch)]
    shares = [[pk for chunk in chunks[i::threads] for pk in chunk] for i in range(threads)]
    pool = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return outcomes, spent[0]


def _judged(ids: list[int], batch: int):
    """The outcomes of judging `ids`, one by one (`batch` 1) or `batch` at a time, as a batch task does."""
    from judges.services.judging import judgment_run, judgments_run

    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        if batch == 1:
            yield judgment_run(judgment_id=chunk[0]).outcome
        else:
            yield from (result.outcome for result in judgments_run(chunk).values())


def _commits() -> int:
    """Transactions committed in this database so far (each statement of the judging path is one)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _judgment_updates() -> tuple[int, int]:
    """(updates, HOT updates) of the judgments' table so far: a HOT update writes no index entry."""
    from django.db import connection

    from judges.models import Judgment

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s",
            [Judgment._meta.db_table],
        )
        return cursor.fetchone()


def _cpu_now(stub_pid: int) -> dict[str, float]:
    return {"process": time.process_time(), "stub": _process_cpu([stub_pid])}


def profile(ids: list[int], batch: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.thread_time)  # CPU time: waits on the network and the database left out
    profiler.enable()
    for _ in _judged(ids, batch):
        pass
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("tottime")
    stats.print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    in_scratch_services(run, parse_args(), prefix=f"benchcpu{os.getpid()}:")


if __name__ == "__main__":
    main()
