"""``mtbench``: FastChat llm_judge pairwise judgments (``model_judgment/*_pair.jsonl``).

Each line judged one question twice: game 1 showed ``model_1``'s answer first, game 2 the two answers swapped.
``g1_winner`` and ``g2_winner`` name the winner as ``model_1``, ``model_2`` or ``tie`` (FastChat maps game 2
back to the model names) or ``error`` when the judge's reply could not be read. Both games count as battles —
game 1 with ``model_1`` as A, game 2 with ``model_2`` as A (the side shown first) — and ``error`` games are left
out and counted. ``turn`` (1 or 2) can be filtered with ``ReadOptions(turns=...)``.
"""

from __future__ import annotations

import numpy as np

from ._common import BattleFileError, Columns, ReadOptions, json_records, key_columns

MTBENCH_KEYS = ("model_1", "model_2", "g1_winner", "g2_winner", "turn")
WINNERS = ("model_1", "model_2", "tie", "error")
LABEL_SCORES = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
# Winner → the label of the battle whose A side is model_1 (game 1) or model_2 (game 2).
GAME_1 = {"model_1": "model_a", "model_2": "model_b", "tie": "tie"}
GAME_2 = {"model_2": "model_a", "model_1": "model_b", "tie": "tie"}


def parse_mtbench(path: str, text: str, options: ReadOptions) -> Columns:
    records, unit, numbers = json_records(path, text, "mtbench")
    columns = key_columns(records, MTBENCH_KEYS, lambda k: f"{path}: {unit} {numbers[k]}")
    numbers_out, model_a, model_b, labels, questions = [], [], [], [], []
    skipped = 0
    for k, (first, second, g1, g2, turn) in enumerate(zip(*columns, strict=True)):
        where = f"{path}: {unit} {numbers[k]}"
        _check(first, second, g1, g2, turn, where)
        if options.turns is not None and turn not in options.turns:
            continue
        for shown_first, shown_second, winner, table in (
            (first, second, g1, GAME_1),
            (second, first, g2, GAME_2),
        ):
            if winner == "error":
                skipped += 1
                continue
            numbers_out.append(numbers[k])
            model_a.append(shown_first)
            model_b.append(shown_second)
            labels.append(table[winner])
            questions.append(records[k].get("question_id"))
    return Columns(
        path,
        unit,
        numbers_out,
        model_a,
        model_b,
        np.fromiter((LABEL_SCORES[label] for label in labels), float, len(labels)),
        skipped=skipped,
        labels=labels,
        question_ids=questions,
        skip_reason="games the judge answered with 'error'",
    )


def _check(first: object, second: object, g1: object, g2: object, turn: object, where: str) -> None:
    for key, winner in (("g1_winner", g1), ("g2_winner", g2)):
        if not isinstance(winner, str) or winner not in WINNERS:
            raise BattleFileError(
                f"{where}: {key} {winner!r} is not one of {', '.join(map(repr, WINNERS))}. "
                f"Fix or remove the line — is this a single-answer grading file instead of a pairwise one?"
            )
    if type(turn) is not int or turn < 1:
        raise BattleFileError(f"{where}: turn {turn!r} is not a positive whole number (1 or 2 in MT-bench)")
