"""``qlora``: the QLoRA paper's GPT-4 pairwise reviews, one JSON object per line, one file per ordered pair.

The file name names both systems and the judge: ``<A>-vs-<B>-gpt-4-reviewer-threeclass.jsonl``, A's answer
shown first. ``score`` 1 means A's answer is better, 2 B's, 3 a tie, and -1 that the review could not be
parsed: left out (and counted) by default, or a tie with ``ReadOptions(unparsed="tie")``. The systems keep
the names the files give them (``answer-gpt4``, ``65b-guanaco-vicuna-generations-topp0.9-temp0.7``, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ._common import BattleFileError, Columns, ReadOptions, json_records, key_columns

# 1: A better, 2: B better, 3: tie; the labels are those importers map to outcomes.
QLORA_LABELS = {1: "model_a", 2: "model_b", 3: "tie"}
LABEL_SCORES = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
UNPARSED = -1
FILE_NAME = re.compile(
    r"^(?P<a>.+?)-vs-(?P<b>.+)-(?P<judge>gpt-[0-9][\w.]*(?:-turbo)?)-reviewer(?:-threeclass)?\.jsonl$"
)
EXAMPLE = "answer-gpt4-vs-answer-bard-gpt-4-reviewer-threeclass.jsonl"


def qlora_systems(path: str) -> tuple[str, str]:
    """The two systems a QLoRA review file compares, from its name (A is shown first)."""
    name = Path(path).name
    match = FILE_NAME.match(name)
    if match is None or name.count("-vs-") != 1:
        problem = (
            "names more than one '-vs-'"
            if match
            else "does not follow <A>-vs-<B>-<judge>-reviewer-threeclass.jsonl"
        )
        raise BattleFileError(
            f"{path}: the file name {problem}, so the two systems are unknown; QLoRA review files are named like "
            f"{EXAMPLE}. Rename the file."
        )
    return match["a"], match["b"]


def parse_qlora(path: str, text: str, options: ReadOptions) -> Columns:
    a, b = qlora_systems(path)
    records, unit, numbers = json_records(path, text, "qlora")
    if unit != "line":
        raise BattleFileError(
            f"{path}: QLoRA reviews are JSON lines (one object per line), not one JSON list"
        )
    (scores,) = key_columns(records, ("score",), lambda k: f"{path}: line {numbers[k]}")
    labels, kept = [], []
    for k, score in enumerate(scores):
        label = _label(score, options, f"{path}: line {numbers[k]}")
        if label is not None:
            labels.append(label)
            kept.append(k)
    return Columns(
        path,
        unit,
        [numbers[k] for k in kept],
        [a] * len(kept),
        [b] * len(kept),
        np.fromiter((LABEL_SCORES[label] for label in labels), float, len(labels)),
        skipped=len(scores) - len(kept),
        labels=labels,
        question_ids=[records[k].get("question_id") for k in kept],
        skip_reason="unparsed reviews (score -1; --unparsed tie counts them as ties)",
    )


def _label(score: object, options: ReadOptions, where: str) -> str | None:
    # bool is an int subclass, but true/false are not scores.
    if type(score) is int and score in QLORA_LABELS:
        return QLORA_LABELS[score]
    if type(score) is int and score == UNPARSED:
        return "tie" if options.unparsed == "tie" else None
    raise BattleFileError(
        f"{where}: score {score!r} is not one of 1 (first system better), 2 (second better), 3 (tie) or "
        f"-1 (unparsed). Fix or remove the line."
    )
