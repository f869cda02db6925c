"""Online Elo averaged over random orderings (`rate --permutations`): time and memory, printed.

(a) the QLoRA vicuna80 reviews (4,467 battles, 8 systems; read from ../shared/data/vicuna80, skipped when
absent), 10,000 orderings, K = 32 — the paper's setting; (b) a synthetic 100,000-battle sequence over 50
contenders, 80 orderings (one chunk; time grows with battles × chunks, a chunk holding 8 M / battles orderings). Orderings are replayed together, one array step per battle, in chunks of at most
8 M indices, so memory stays flat; the peak resident size is printed.

Run from the repository root: ``.venv/bin/python bench/bench_elo_orderings.py``. Not part of the test run.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from leaderboard.battle_files import read_battle_files  # noqa: E402
from leaderboard.rating import BattleSequence, EloSettings, fit_elo_orderings  # noqa: E402

VICUNA80 = ROOT / ".." / "shared" / "data" / "vicuna80" / "gpt4-pairwise"
TARGET_SECONDS = 10.0  # the issue asks for 10,000 orderings on vicuna80 to be "fast": well under ten seconds


def timed(sequence: BattleSequence, permutations: int) -> float:
    started = time.perf_counter()
    fit_elo_orderings(sequence, permutations=permutations, settings=EloSettings(k=32), seed=0)
    return time.perf_counter() - started


def main() -> None:
    if VICUNA80.is_dir():
        sequence = read_battle_files([VICUNA80], "qlora").sequence
        seconds = timed(sequence, 10_000)
        verdict = "PASS" if seconds <= TARGET_SECONDS else "MISS"
        print(
            f"(a) vicuna80, {len(sequence)} battles x 10,000 orderings: {seconds:.2f} s ({verdict}, target ≤ 10 s)"
        )
    else:
        print(f"(a) skipped: {VICUNA80} not found")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 50, size=100_000)
    b = (a + rng.integers(1, 50, size=100_000)) % 50
    synthetic = BattleSequence(
        tuple(f"m{i}" for i in range(50)), a, b, rng.choice([0.0, 0.5, 1.0], size=100_000)
    )
    print(f"(b) synthetic, 100,000 battles x 80 orderings: {timed(synthetic, 80):.2f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
