"""Coverage of the human-calibrated judge leaderboard on simulated arenas with known truth. Prints figures.

Run from the repository root: ``.venv/bin/python bench/bench_calibration.py [--replicates 400]``.
Each arena: 6 contenders (1150 … 850 Elo), a judge that favours the weakest by 150 points, 3000 judge
battles of which 400 were also judged by people. For every arena the raw judge board (Bradley–Terry, 100
bootstrap rounds) and the calibrated one (prediction-powered, 200 rounds) are fitted, and we count how
often each 95 % interval holds the true rating. Not part of the test run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from leaderboard.rating import fit_bradley_terry, pair_counts_from_sequence  # noqa: E402
from leaderboard.rating.calibrated import LabelledBattles, fit_calibrated_bradley_terry  # noqa: E402
from leaderboard.rating.simulate import simulate_judged_battles  # noqa: E402

TRUTH = np.array([1150.0, 1080.0, 1020.0, 980.0, 920.0, 850.0])
BIAS = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 150.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--battles", type=int, default=3000)
    parser.add_argument("--labelled", type=int, default=400)
    parser.add_argument("--scale", action="store_true", help="Time one fit: 100 contenders, 1M battles.")
    args = parser.parse_args()
    if args.scale:
        scale()
        return
    truth = TRUTH - TRUTH.mean() + 1000.0
    hits: dict[str, list[np.ndarray]] = {"raw": [], "calibrated": []}
    widths: dict[str, list[np.ndarray]] = {"raw": [], "calibrated": []}
    started = time.perf_counter()
    for seed in range(args.replicates):
        rng = np.random.default_rng(10_000 + seed)
        sequence, people = simulate_judged_battles(TRUTH, BIAS, args.battles, args.labelled, rng)
        counts = pair_counts_from_sequence(sequence)
        n = args.labelled
        labelled = LabelledBattles(sequence.a[:n], sequence.b[:n], people, sequence.score[:n])
        fits = {
            "raw": fit_bradley_terry(counts, bootstrap_rounds=100, seed=seed),
            "calibrated": fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=200, seed=seed),
        }
        for name, fit in fits.items():
            hits[name].append((fit.ci_low <= truth) & (truth <= fit.ci_high))
            widths[name].append(fit.ci_high - fit.ci_low)
    elapsed = time.perf_counter() - started
    print(f"{args.replicates} arenas, {args.battles} judge battles, {args.labelled} labelled by people")
    for name in ("raw", "calibrated"):
        share = np.array(hits[name])
        print(
            f"{name:>10}: coverage {share.mean():.3f} overall, {share[:, -1].mean():.3f} for the favoured "
            f"contender; mean interval width {np.mean(widths[name]):.0f} Elo points"
        )
    print(f"({elapsed:.1f} s)")


def scale() -> None:
    """One calibrated fit at the size of a large arena: 100 contenders, 1M judge battles, 5,000 labelled."""
    rng = np.random.default_rng(0)
    truth = rng.normal(1000.0, 150.0, 100)
    bias = np.where(np.arange(100) < 5, 100.0, 0.0)  # five favoured contenders
    sequence, people = simulate_judged_battles(truth, bias, 1_000_000, 5000, rng)
    counts = pair_counts_from_sequence(sequence)
    labelled = LabelledBattles(sequence.a[:5000], sequence.b[:5000], people, sequence.score[:5000])
    started = time.perf_counter()
    fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=200, seed=0)
    print(
        f"100 contenders, 1M judge battles, 5000 labelled, 200 rounds: {time.perf_counter() - started:.2f} s"
    )


if __name__ == "__main__":
    main()
