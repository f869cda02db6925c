"""Report-card benchmark: one judge's card from synthetic rows (seeded), no database. Prints figures.

Run from the repository root: ``.venv/bin/python bench/bench_judge_report.py``. Not part of the test run.

(a) Vicuna-80 size: 2,240 battles in both orders (4,480 judgments), 1,000 bootstrap rounds   target ≤ 2 s
(b) arena size: 50,000 battles in both orders, 20,000 with 3 people's votes, 200 rounds (the pages' default,
    JUDGES_REPORT_BOOTSTRAP_ROUNDS)                                                           target ≤ 5 s
Judged on CPU time. The pages cache cards, so these are the cost of a first view after new data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script, yet import the project's packages

from judges.report.card import (  # noqa: E402
    BattleRow,
    BoardRow,
    JudgmentRow,
    ReportRows,
    VerdictRow,
    VoteRow,
    report_card,
)

LABELS = np.array(["A", "B", "tie"])
OUTCOMES = np.array(["a", "b", "tie"])


def rows(n_battles: int, n_voted: int, seed: int = 0) -> ReportRows:
    rng = np.random.default_rng(seed)
    picks = rng.choice(3, size=(n_battles, 2), p=[0.55, 0.3, 0.15])
    judgments = [
        JudgmentRow(b, order, None if rng.random() < 0.003 else str(LABELS[picks[b, k]]), 0.002, 900.0)
        for b in range(n_battles)
        for k, order in enumerate(("shown", "swapped"))
    ]
    features = rng.integers(0, 2000, size=(n_battles, 8))
    battles = [
        BattleRow(b, b % 40, (b + 1 + b // 40) % 40 or 1, *features[b], own_a=b % 7 == 0)
        for b in range(n_battles)
    ]
    verdicts = [VerdictRow(b, str(OUTCOMES[rng.integers(3)])) for b in range(n_battles)]
    votes = [VoteRow(b, f"u:{k}", str(OUTCOMES[rng.integers(3)])) for b in range(n_voted) for k in range(3)]
    board = [BoardRow(c, 1000 + 10 * c, 990 + 10 * c, 1010 + 10 * c) for c in range(40)]
    return ReportRows(judgments, battles, verdicts, votes, board, board[::-1])


def measure(label: str, data: ReportRows, target_s: float, rounds: int) -> bool:
    """Judged on CPU time: the machine's other work stretches the wall clock, not the work done here."""
    start, cpu = time.perf_counter(), time.process_time()
    card = report_card(data, rounds=rounds)
    took, used = time.perf_counter() - start, time.process_time() - cpu
    ok = used <= target_s
    print(
        f"{label}: {used:.2f} s CPU, {took:.2f} s wall (target ≤ {target_s:g} s CPU) {'PASS' if ok else 'MISS'}; "
        f"consistent {card['consistent']:.3f}, n={card['figures']['consistent']['n']}"
    )
    return ok


if __name__ == "__main__":
    results = [
        measure("(a) 2,240 battles, 1,000 rounds", rows(2240, 0), 2.0, 1000),
        measure("(b) 50,000 battles, 20,000 voted, 200 rounds", rows(50_000, 20_000), 5.0, 200),
    ]
    sys.exit(0 if all(results) else 1)
