"""``fastchat``: Chatbot Arena battle dumps — a JSON list, or JSON lines, of objects with ``model_a``,
``model_b`` and ``winner`` in {``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``}, in time order."""

from __future__ import annotations

import numpy as np

from ._common import Columns, ReadOptions, json_records, key_columns, with_label_scores

FASTCHAT_SCORES = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
FASTCHAT_KEYS = ("model_a", "model_b", "winner")


def parse_fastchat(path: str, text: str, options: ReadOptions) -> Columns:
    records, unit, numbers = json_records(path, text, "fastchat")
    model_a, model_b, winner = key_columns(records, FASTCHAT_KEYS, lambda k: f"{path}: {unit} {numbers[k]}")
    question_ids = [record.get("question_id") for record in records]
    columns = Columns(
        path, unit, numbers, model_a, model_b, np.empty(0), labels=winner, question_ids=question_ids
    )
    return with_label_scores(columns, winner, FASTCHAT_SCORES)
