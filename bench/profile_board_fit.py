"""CPU time of one board's fit, part by part, on the shape of the fan-out benchmark's boards.

Run from the repository root: ``.venv/bin/python bench/profile_board_fit.py [--profile]``. Not part of the
test run. A board of bench_recompute_fanout (100 contenders, 40,000 battles over all categories, style rows
one per battle) is built directly in the pure rating core, with no database: Bradley–Terry with 100 bootstrap
rounds, the style-controlled point fit, and a judge calibration at 200 rounds (2,000 labelled battles).
Process CPU time is printed (robust to a shared machine's load); ``--profile`` adds cProfile's top entries.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script

from leaderboard.rating import BattleSequence, fit_bradley_terry, fit_style_controlled  # noqa: E402
from leaderboard.rating.calibrated import LabelledBattles, fit_calibrated_bradley_terry  # noqa: E402
from leaderboard.rating.counts import pair_counts_from_scores  # noqa: E402


def board(n_models: int, n_battles: int, n_labelled: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    style_a = rng.poisson([1500.0, 2.0, 5.0, 3.0], size=(n_battles, 4)).astype(float)
    style_b = rng.poisson([1500.0, 2.0, 5.0, 3.0], size=(n_battles, 4)).astype(float)
    p = 1.0 / (1.0 + np.exp(-(strength[a] - strength[b])))
    draw = rng.random(n_battles)
    score = np.where(draw < 0.1, 0.5, (draw < 0.1 + 0.9 * p).astype(float))
    models = tuple(f"m{i:03d}" for i in range(n_models))
    counts = pair_counts_from_scores(models, a, b, score, np.ones(n_battles))
    picked = rng.choice(n_battles, n_labelled, replace=False)
    human = np.where(rng.random(n_labelled) < 0.8, score[picked], 1.0 - score[picked])
    labelled = LabelledBattles(a[picked], b[picked], human, score[picked])
    sequence = BattleSequence(models, a, b, score)
    return {"counts": counts, "sequence": sequence, "style": (style_a, style_b), "labelled": labelled}


def timed(label: str, work, repeats: int) -> None:
    started = time.process_time()
    for _ in range(repeats):
        work()
    print(f"{label:<34} {1000 * (time.process_time() - started) / repeats:8.1f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contenders", type=int, default=100)
    parser.add_argument("--battles", type=int, default=40_000)
    parser.add_argument("--labelled", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only", help="time only the parts whose label contains this text")
    args = parser.parse_args()
    data = board(args.contenders, args.battles, args.labelled)
    style_a, style_b = data["style"]
    parts = {
        "bradley-terry, 100 rounds": lambda: fit_bradley_terry(data["counts"], bootstrap_rounds=100, seed=0),
        "style control, point fit": lambda: fit_style_controlled(data["sequence"], style_a, style_b, seed=0),
        "calibration, 200 rounds": lambda: fit_calibrated_bradley_terry(
            data["counts"], data["labelled"], bootstrap_rounds=200, seed=0
        ),
    }
    with threadpool_limits(limits=1, user_api="blas"):
        for label, work in parts.items():
            if args.only and args.only not in label:
                continue
            work()  # warm: imports, caches
            timed(label, work, args.repeats)
            if args.profile:
                profiler = cProfile.Profile()
                profiler.runcall(work)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(12)


if __name__ == "__main__":
    main()
