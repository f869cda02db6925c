"""The one-pass fastchat reader gives exactly what the record-by-record one gives, or steps aside."""

import json

import numpy as np
import pytest

from leaderboard.battle_files import read_battle_files
from leaderboard.battle_files._common import DEFAULT_READ_OPTIONS
from leaderboard.battle_files.fastchat import fastchat_columns, parse_fastchat

RECORDS = [
    {"model_a": "zeta", "model_b": "alpha", "winner": "model_a", "question_id": "q1", "turn": 1},
    {"model_a": "alpha", "model_b": "zeta", "winner": "tie (bothbad)", "judge": {"nested": [1, 2]}},
    {"model_a": "beta", "model_b": "alpha", "winner": "model_b", "question_id": 7},
    {"model_a": "béta", "model_b": "zeta", "winner": "tie", "question_id": None},
]
AS_LIST = json.dumps(RECORDS, ensure_ascii=False)
AS_LINES = "".join(json.dumps(record) + "\n" for record in RECORDS)


@pytest.mark.parametrize(
    "text", [AS_LIST, AS_LINES, AS_LINES.rstrip("\n"), "  \n" + AS_LIST], ids=str.__len__
)
def test_fast_columns_equal_the_careful_parser(tmp_path, text):
    path = tmp_path / "battles.json"
    path.write_text(text, encoding="utf-8")

    fast = fastchat_columns(str(path), path.read_bytes(), DEFAULT_READ_OPTIONS)
    careful = parse_fastchat(str(path), text, DEFAULT_READ_OPTIONS)

    assert fast is not None
    assert (fast.unit, list(fast.numbers)) == (careful.unit, list(careful.numbers))
    assert (fast.model_a, fast.model_b) == (careful.model_a, careful.model_b)
    assert (list(fast.labels), list(fast.question_ids)) == (list(careful.labels), list(careful.question_ids))
    np.testing.assert_array_equal(fast.score, careful.score)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + AS_LIST.encode(),  # a byte order mark
        (AS_LINES + "\n" + AS_LINES).encode(),  # a blank line: line numbers no longer follow battles
        AS_LIST.replace('"tie"', '"draw"').encode(),  # an unknown label
        AS_LIST.replace('"winner": "model_b"', '"verdict": "model_b"').encode(),  # a missing key
        AS_LIST.replace('"alpha", "winner": "model_a"', 'null, "winner": "model_a"', 1).encode(),  # not a str
        b'[["a", "b", "tie"]]',  # not an object
        AS_LIST[:-5].encode(),  # invalid JSON
        AS_LIST.encode("utf-16"),  # not UTF-8
        b"left,right,winner\n",  # another format
    ],
    ids=["bom", "blank-line", "label", "key", "name", "array", "json", "utf16", "csv"],
)
def test_anything_unusual_is_left_to_the_careful_parser(raw):
    assert fastchat_columns("f.json", raw, DEFAULT_READ_OPTIONS) is None


def test_the_file_reader_takes_the_fast_path_and_keeps_record_numbers(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text(AS_LINES, encoding="utf-8")

    parsed = read_battle_files([path], "fastchat")

    assert parsed.sequence.models == ("alpha", "beta", "béta", "zeta")
    assert [parsed.records[0].where(k) for k in (0, 3)] == [f"{path}: line 1", f"{path}: line 4"]
    assert list(parsed.records[0].question_ids) == ["q1", None, 7, None]
