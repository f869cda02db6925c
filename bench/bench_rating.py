"""Rating benchmarks: 100 contenders, 1,000,000 battles, 20 % ties (synthetic, seeded). Prints figures.

Run from the repository root: ``.venv/bin/python bench/bench_rating.py`` (``--database-only`` for (d));
``scripts/bench.sh`` provisions PostgreSQL first. Not part of the test run.

(a) Bradley–Terry fit + 100-round bootstrap from aggregated counts   target ≤ 0.5 s
(b) ``manage.py rate --format fastchat --bootstrap 100`` on a 1M-battle JSON file, whole process   ≤ 1.5 s
    (median of 3 runs; beside it FastChat's ``compute_bt`` + ``compute_bootstrap_bt`` on the same file, when
    ``fastchat.serve.monitor.rating_systems`` is importable — the PyPI release of fschat, 0.2.36, lacks it)
(c) online Elo over the 1M battles in order                           target ≤ 1 s
(d) one leaderboard end to end from 1M verdict rows in PostgreSQL (SQL aggregation, fit, bootstrap, store)  ≤ 3 s
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from bench.verdict_database import Shape, categories_assign, scratch_database, verdicts_load  # noqa: E402
from leaderboard.rating import (  # noqa: E402
    BattleSequence,
    fit_bradley_terry,
    fit_elo,
    pair_counts_from_sequence,
    simulate_battles,
)

T = TypeVar("T")
N_MODELS = 100
N_BATTLES = 1_000_000
TIE_RATE = 0.2
BOOTSTRAP_ROUNDS = 100
SEED = 20240601
FASTCHAT_WINNER = {1.0: "model_a", 0.0: "model_b", 0.5: "tie"}
RATE_TARGET_SECONDS = 1.5


def timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def report(label: str, seconds: float | None, target: float | None) -> None:
    if seconds is None:
        print(f"{label:<62} {'—':>9}   (not implemented)")
        return
    verdict = "" if target is None else f"target ≤ {target:g} s  {'PASS' if seconds <= target else 'MISS'}"
    print(f"{label:<62} {seconds:>8.3f}s   {verdict}")


def synthetic_battles() -> BattleSequence:
    rng = np.random.default_rng(SEED)
    return simulate_battles(rng.normal(1000, 150, N_MODELS), N_BATTLES, rng, tie_rate=TIE_RATE)


def bench_bradley_terry(sequence: BattleSequence) -> None:
    aggregation, counts = timed(lambda: pair_counts_from_sequence(sequence))
    report("aggregate 1M battles into counts (np.bincount)", aggregation, None)
    fit_only, _ = timed(lambda: fit_bradley_terry(counts))
    report("(a) Bradley–Terry point fit from counts", fit_only, None)
    with_bootstrap, result = timed(
        lambda: fit_bradley_terry(counts, bootstrap_rounds=BOOTSTRAP_ROUNDS, seed=0)
    )
    report(f"(a) Bradley–Terry fit + {BOOTSTRAP_ROUNDS}-round bootstrap from counts", with_bootstrap, 0.5)
    assert result.ci_low is not None and result.ci_high is not None
    widths = result.ci_high - result.ci_low
    print(
        f"    median 95% interval width {np.median(widths):.1f} Elo points, diagnostics: {result.diagnostics.notes()}"
    )


def bench_elo(sequence: BattleSequence) -> None:
    seconds, _ = timed(lambda: fit_elo(sequence))
    report("(c) online Elo over 1M battles", seconds, 1.0)


def write_fastchat_file(sequence: BattleSequence, directory: Path) -> Path:
    names, labels = sequence.models, [FASTCHAT_WINNER[s] for s in sequence.score.tolist()]
    records = [
        {"model_a": names[a], "model_b": names[b], "winner": w, "language": "English", "turn": 1}
        for a, b, w in zip(sequence.a.tolist(), sequence.b.tolist(), labels, strict=True)
    ]
    path = directory / "battles.json"
    path.write_bytes(orjson.dumps(records))
    return path


def bench_rate_command(sequence: BattleSequence) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write_fastchat_file(sequence, Path(directory))
        print(f"    wrote {path.stat().st_size / 1e6:.0f} MB fastchat JSON")
        command = [sys.executable, "manage.py", "rate", str(path), "--format", "fastchat"]
        command += ["--bootstrap", str(BOOTSTRAP_ROUNDS), "--json"]
        # `rate` runs on its file-only settings: no secret key, no database, as a user would run it.
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY")}
        runs = [_rate_run(command, env) for _ in range(3)]
        seconds = float(np.median([wall for wall, _, _ in runs]))
        finished = runs[-1][2]
        fastchat_seconds = _fastchat_seconds(path)
    rows = orjson.loads(finished.stdout)
    report(
        f"(b) manage.py rate --format fastchat --bootstrap {BOOTSTRAP_ROUNDS} (1M battles)",
        seconds,
        RATE_TARGET_SECONDS,
    )
    # Wall time suffers when other jobs share the CPUs; the child's CPU time does not.
    walls = ", ".join(f"{wall:.2f}" for wall, _, _ in runs)
    cpus = ", ".join(f"{cpu:.2f}" for _, cpu, _ in runs)
    print(f"    runs {walls} s wall; CPU (user + sys) {cpus} s; load average {os.getloadavg()[0]:.2f}")
    print(f"    {len(rows)} rows, top: {rows[0]['model']} {rows[0]['rating']:.1f}")
    if fastchat_seconds is not None:
        print(
            f"    FastChat compute_bt + compute_bootstrap_bt: {fastchat_seconds:.2f} s = {fastchat_seconds / seconds:.1f}× ours"
        )


def _rate_run(command: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    cpu_before = _children_cpu_seconds()
    seconds, finished = timed(lambda: subprocess.run(command, cwd=ROOT, env=env, capture_output=True))
    if finished.returncode != 0:
        print(finished.stderr.decode()[-2000:])
        raise SystemExit("manage.py rate failed")
    return seconds, _children_cpu_seconds() - cpu_before, finished


def _fastchat_seconds(path: Path) -> float | None:
    """FastChat's own Bradley–Terry with 100 bootstrap rounds on the same file, in a fresh process (reading
    the file with pandas as FastChat's scripts do), or None when its rating code is not installed."""
    probe = (
        "import sys, time; start = time.perf_counter();"
        "from fastchat.serve.monitor.rating_systems import compute_bt, compute_bootstrap_bt;"
        "import pandas as pd;"
        f"battles = pd.read_json({str(path)!r});"
        "compute_bt(battles); compute_bootstrap_bt(battles, num_round=100);"
        "print(time.perf_counter() - start)"
    )
    finished = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        reason = (finished.stderr.strip().splitlines() or ["failed"])[-1]
        print(f"    FastChat compute_bt + compute_bootstrap_bt: not available here ({reason}); no ratio")
        return None
    return float(finished.stdout.split()[-1])


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_database_end_to_end(shape: Shape | None = None) -> float | None:
    """(d): seconds from 1M ``Verdict`` rows in PostgreSQL to one stored leaderboard, or None without a server.

    In a scratch database (created and dropped here): COPY the verdicts in, then time (median of 3)
    ``leaderboards_recompute`` — the SQL ``GROUP BY``, the Bradley–Terry fit with a 100-round bootstrap,
    matrices, and storing the run — on one leaderboard (people × overall, no categories). Style control
    (verdicts summed per battle, each battle's answer styles from the process's battle table, read once, then
    a logistic fit) is timed on its own, cold and warm, and so is a recompute with five category leaderboards.
    """
    # The arena: 100 contenders and 1M battles (one verdict each, 20 % ties or both bad), over 1,000
    # prompts, so style control has a million distinct battles to read.
    shape = shape or Shape(
        contenders=N_MODELS, prompts=1000, battles_per_prompt=N_BATTLES // 1000, votes_per_battle=1
    )
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("    (d) skipped: DATABASE_URL does not name a PostgreSQL server (run scripts/bench.sh)")
        return None
    with scratch_database():
        seconds, counts = timed(lambda: verdicts_load(shape))
        report(
            f"load {counts['verdicts']:,} verdicts, {counts['battles']:,} battles with COPY", seconds, None
        )
        return _time_leaderboards()


def _time_leaderboards() -> float:
    from django.conf import settings
    from django.db import connection

    from leaderboard.services.aggregation import verdict_pairs_aggregate, verdict_styles_aggregate
    from leaderboard.services.recompute import leaderboards_recompute

    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = BOOTSTRAP_ROUNDS
    __import__("choix"), __import__("scipy.optimize")  # one-off imports, timed in (a), not here
    with connection.cursor() as cursor:  # as a recompute sets it for its queries
        cursor.execute("SELECT set_config('work_mem', %s, false)", [settings.LEADERBOARD_WORK_MEM])
    report("    SQL GROUP BY (source, dimension, A, B, outcome)", median_of(verdict_pairs_aggregate)[0], None)
    settings.LEADERBOARD_STYLE_CONTROL = False
    seconds, run = median_of(lambda: leaderboards_recompute(trigger="bench"))
    report(
        f"(d) one leaderboard from 1M verdicts: SQL + BT + {BOOTSTRAP_ROUNDS}-round bootstrap + store",
        seconds,
        3.0,
    )
    _describe(run)
    settings.LEADERBOARD_STYLE_CONTROL = True
    cold, _ = timed(verdict_styles_aggregate)
    report("    style rows, first time in this process (reads every battle once)", cold, None)
    query_seconds, styles = median_of(verdict_styles_aggregate)
    report(
        f"    style rows: verdicts per battle + cached battle styles ({len(styles):,} rows)",
        query_seconds,
        None,
    )
    report("    style-controlled fit alone (Newton, from the groups)", median_of(_style_fit())[0], None)
    cpu_before = time.process_time()
    styled, run = median_of(lambda: leaderboards_recompute(trigger="bench"))
    cpu_seconds = (time.process_time() - cpu_before) / 3
    report("(d) the same with style control (second query + logistic fit)", styled, 3.0)
    # Wall time suffers when other jobs share the CPUs; this process's CPU time (PostgreSQL's not counted)
    # does not.
    print(f"    Python CPU time per recompute {cpu_seconds:.2f}s; load average {os.getloadavg()[0]:.2f}")
    categories_assign(5)
    total, run = timed(lambda: leaderboards_recompute(trigger="bench"))
    report(f"    recompute with 5 categories: {run.n_snapshots} leaderboards, style control on", total, None)
    print(f"    = {total / run.n_snapshots:.2f} s per leaderboard")
    return seconds


def _style_fit() -> Callable[[], object]:
    """The style-controlled fit of the first leaderboard, on its groups as a recompute reads them."""
    from leaderboard.rating import BattleSequence, fit_style_controlled
    from leaderboard.services.recompute import boards_read

    data = boards_read()[0].data
    style = data.style
    sequence = BattleSequence(data.counts.models, style.a, style.b, style.score)
    return lambda: fit_style_controlled(
        sequence, style.style_a, style.style_b, weights=style.weight, battles=style.battles
    )


def median_of(action: Callable[[], T], repeats: int = 3) -> tuple[float, T]:
    """Median wall time of `repeats` calls (other jobs sharing the CPUs make single timings noisy)."""
    results = [timed(action) for _ in range(repeats)]
    return float(np.median([seconds for seconds, _ in results])), results[-1][1]


def _describe(run) -> None:
    snapshot = run.snapshots.get()
    widths = [row.ci_high - row.ci_low for row in snapshot.rows.all()]
    print(
        f"    {snapshot.n_verdicts:,} verdicts counted (excluded left out), {snapshot.n_contenders} contenders, "
        f"median 95% interval width {np.median(widths):.1f} Elo points; fit {snapshot.duration_ms} ms"
    )


def main() -> None:
    if "--database-only" in sys.argv[1:]:
        bench_database_end_to_end()
        return
    print(
        f"{N_MODELS} contenders, {N_BATTLES:,} battles, {TIE_RATE:.0%} ties, seed {SEED}, {os.cpu_count()} CPUs"
    )
    seconds, sequence = timed(synthetic_battles)
    report("simulate battles", seconds, None)
    print(f"    tie share {np.mean(sequence.score == 0.5):.3f}")
    bench_bradley_terry(sequence)
    bench_elo(sequence)
    bench_rate_command(sequence)
    bench_database_end_to_end()


if __name__ == "__main__":
    main()
