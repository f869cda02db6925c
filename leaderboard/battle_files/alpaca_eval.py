"""``alpaca_eval``: AlpacaEval annotation JSON lists with ``generator_1``, ``generator_2`` and ``preference``
(1: output_1 preferred, 2: output_2, values between are soft, so generator_1 scores ``2 − preference``; the
legacy 0 means a draw; ``null`` is skipped and counted)."""

from __future__ import annotations

import numpy as np

from ._common import BattleFileError, Columns, ReadOptions, json_records, key_columns

ALPACA_KEYS = ("generator_1", "generator_2", "preference")


def parse_alpaca_eval(path: str, text: str, options: ReadOptions) -> Columns:
    records, unit, numbers = json_records(path, text, "alpaca_eval")
    if unit != "record":
        raise BattleFileError(f"{path}: AlpacaEval annotations are one JSON list, not JSON lines")
    first, second, preference = key_columns(records, ALPACA_KEYS, lambda k: f"{path}: record {numbers[k]}")
    kept = [k for k, value in enumerate(preference) if value is not None]
    scores = [_alpaca_score(preference[k], f"{path}: record {numbers[k]}") for k in kept]
    return Columns(
        path,
        unit,
        [numbers[k] for k in kept],
        [first[k] for k in kept],
        [second[k] for k in kept],
        np.array(scores, dtype=float),
        skipped=len(preference) - len(kept),
        skip_reason="records with a null preference",
    )


def _alpaca_score(preference: object, where: str) -> float:
    """generator_1's score: ``2 − preference`` for a preference in [1, 2]; the legacy 0 is a draw."""
    # bool is an int subclass, but true/false are not preferences.
    if isinstance(preference, int | float) and not isinstance(preference, bool):
        if preference == 0:
            return 0.5
        if 1 <= preference <= 2:
            return 2.0 - float(preference)
    raise BattleFileError(
        f"{where}: preference {preference!r} is not a number in [1, 2] (nor null to skip, nor 0 for a draw)"
    )
