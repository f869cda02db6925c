"""``fastchat``: Chatbot Arena battle dumps — a JSON list, or JSON lines, of objects with ``model_a``,
``model_b`` and ``winner`` in {``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``}, in time order.

Two readers with one result. :func:`fastchat_columns` decodes the raw bytes straight into typed records
(msgspec: only the needed fields, labels checked while decoding, no dict built per record) and then into
columns. Any file it cannot take whole — invalid JSON, a missing key, an
unknown label, a BOM, blank lines — goes to :func:`parse_fastchat`, the record-by-record reader whose
errors name the record or line.
"""

from __future__ import annotations

import codecs
from typing import Any, Literal

import msgspec
import numpy as np

from ._common import Columns, ReadOptions, json_records, key_columns, with_label_scores

FASTCHAT_SCORES = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
FASTCHAT_KEYS = ("model_a", "model_b", "winner")


class _Battle(msgspec.Struct, gc=False):
    model_a: str
    model_b: str
    winner: Literal["model_a", "model_b", "tie", "tie (bothbad)"]
    question_id: Any = None


_LIST_DECODER = msgspec.json.Decoder(list[_Battle])
_LINE_DECODER = msgspec.json.Decoder(_Battle)


def fastchat_columns(path: str, raw: bytes, options: ReadOptions) -> Columns | None:
    """The columns of a well-formed file, read in one pass; ``None`` for anything else (then use
    :func:`parse_fastchat`, which reports the problem)."""
    if raw.startswith(codecs.BOM_UTF8):
        return None
    start = raw.lstrip()[:1]
    try:
        if start == b"[":
            battles = _LIST_DECODER.decode(raw)
            unit, numbers = "record", range(1, len(battles) + 1)
        elif start == b"{":
            battles = _LINE_DECODER.decode_lines(raw)
            # Line k holds battle k only when no line is blank: otherwise let the careful reader number them.
            if len(battles) != raw.count(b"\n") + (not raw.endswith(b"\n")):
                return None
            unit, numbers = "line", range(1, len(battles) + 1)
        else:
            return None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    winners = [battle.winner for battle in battles]
    score = np.fromiter(map(FASTCHAT_SCORES.__getitem__, winners), float, len(winners))
    return Columns(
        path,
        unit,
        numbers,
        [battle.model_a for battle in battles],
        [battle.model_b for battle in battles],
        score,
        labels=winners,
        question_ids=[battle.question_id for battle in battles],
    )


def parse_fastchat(path: str, text: str, options: ReadOptions) -> Columns:
    records, unit, numbers = json_records(path, text, "fastchat")
    model_a, model_b, winner = key_columns(records, FASTCHAT_KEYS, lambda k: f"{path}: {unit} {numbers[k]}")
    question_ids = [record.get("question_id") for record in records]
    columns = Columns(
        path, unit, numbers, model_a, model_b, np.empty(0), labels=winner, question_ids=question_ids
    )
    return with_label_scores(columns, winner, FASTCHAT_SCORES)
