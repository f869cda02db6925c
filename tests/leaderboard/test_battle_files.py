"""Battle file parsers: three formats in, one neutral sequence out; bad input named precisely."""

import json

import numpy as np
import pytest

from leaderboard.battle_files import BattleFileError, read_battle_files


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fastchat_records():
    return [
        {"model_a": "zeta", "model_b": "alpha", "winner": "model_a", "tstamp": 1},
        {"model_a": "alpha", "model_b": "zeta", "winner": "tie (bothbad)", "judge": "x"},
        {"model_a": "beta", "model_b": "alpha", "winner": "model_b"},
        {"model_a": "beta", "model_b": "zeta", "winner": "tie"},
    ]


def test_fastchat_json_list_keeps_order_and_numbers_contenders_by_name(tmp_path):
    path = write(tmp_path / "battles.json", json.dumps(fastchat_records()))

    parsed = read_battle_files([path], "fastchat")

    sequence = parsed.sequence
    assert sequence.models == ("alpha", "beta", "zeta")
    assert [sequence.models[i] for i in sequence.a] == ["zeta", "alpha", "beta", "beta"]
    assert [sequence.models[i] for i in sequence.b] == ["alpha", "zeta", "alpha", "zeta"]
    np.testing.assert_array_equal(sequence.score, [1.0, 0.5, 0.0, 0.5])
    assert parsed.skipped == 0


def test_fastchat_json_lines_give_the_same_battles(tmp_path):
    lines = "\n".join(json.dumps(record) for record in fastchat_records()) + "\n\n"
    as_list = read_battle_files([write(tmp_path / "a.json", json.dumps(fastchat_records()))], "fastchat")

    as_lines = read_battle_files([write(tmp_path / "b.jsonl", lines)], "fastchat")

    np.testing.assert_array_equal(as_lines.sequence.a, as_list.sequence.a)
    np.testing.assert_array_equal(as_lines.sequence.score, as_list.sequence.score)


def test_csv_uses_left_right_winner_and_ignores_other_columns(tmp_path):
    text = "id,left,right,winner,worker\n1,m1,m2,left,w\n2,m2,m3,right,w\n\n3,m3,m1,tie,w\n"

    sequence = read_battle_files([write(tmp_path / "votes.csv", text)], "csv").sequence

    assert sequence.models == ("m1", "m2", "m3")
    np.testing.assert_array_equal(sequence.a, [0, 1, 2])
    np.testing.assert_array_equal(sequence.b, [1, 2, 0])
    np.testing.assert_array_equal(sequence.score, [1.0, 0.0, 0.5])


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    path = write(tmp_path / "bom.csv", "\ufeffleft,right,winner\na,b,left\n".encode())

    assert read_battle_files([path], "csv").sequence.models == ("a", "b")


def test_alpaca_eval_soft_preferences_nulls_and_several_files(tmp_path):
    first = [
        {"generator_1": "base", "generator_2": "m1", "preference": 2.0, "instruction": "x"},
        {"generator_1": "base", "generator_2": "m1", "preference": 1.25},
        {"generator_1": "base", "generator_2": "m1", "preference": None},
    ]
    second = [
        {"generator_1": "base", "generator_2": "m2", "preference": 1},
        {"generator_1": "base", "generator_2": "m2", "preference": 0},  # the legacy code for a draw
    ]
    paths = [write(tmp_path / "m1.json", json.dumps(first)), write(tmp_path / "m2.json", json.dumps(second))]

    parsed = read_battle_files(paths, "alpaca_eval")

    assert parsed.skipped == 1
    assert parsed.sequence.models == ("base", "m1", "m2")
    np.testing.assert_array_equal(parsed.sequence.b, [1, 1, 2, 2])
    np.testing.assert_allclose(parsed.sequence.score, [0.0, 0.75, 1.0, 0.5])  # generator_1 scores 2 − p


def test_only_null_preferences_is_no_battles_and_says_how_many_were_skipped(tmp_path):
    path = write(
        tmp_path / "nulls.json", json.dumps([{"generator_1": "a", "generator_2": "b", "preference": None}])
    )

    with pytest.raises(BattleFileError, match=r"no battles found .*skipped 1 records with a null preference"):
        read_battle_files([path], "alpaca_eval")


BAD_INPUTS = [
    # (format, file name, content, fragments the message must contain)
    (
        "fastchat",
        "bad.json",
        '[{"model_a": "a", "model_b": "b", "winner": "model_a"},'
        ' {"model_a": "a", "model_b": "b", "winner": "draw"}]',
        ["bad.json", "record 2", "'draw'"],
    ),
    (
        "fastchat",
        "bad.jsonl",
        '{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
        '{"model_a": "a", "model_b": "b", "winner": "model_c"}\n',
        ["bad.jsonl", "line 2", "'model_c'"],
    ),
    ("csv", "bad.csv", "left,right,winner\na,b,left\na,b,both\n", ["bad.csv", "line 3", "'both'"]),
    ("csv", "lower.csv", "left,right,winner\na,b,Left\n", ["lower.csv", "line 2", "'Left'"]),
    ("fastchat", "empty.json", "[]", ["no battles", "empty.json"]),
    ("csv", "empty.csv", "", ["empty.csv", "empty file"]),
    ("csv", "header.csv", "left,right,winner\n", ["no battles", "header.csv"]),
    ("csv", "self.csv", "left,right,winner\nsolo,solo,left\n", ["self.csv", "line 2", "'solo'", "itself"]),
    (
        "fastchat",
        "votes.csv",
        "left,right,winner\na,b,left\n",
        ["votes.csv", "not a fastchat file", "'left,right"],
    ),
    (
        "csv",
        "battles.json",
        '[{"model_a": "a"}]',
        ["battles.json", "missing CSV column", "left, right, winner"],
    ),
    (
        "fastchat",
        "keys.json",
        '[{"model_a": "a", "model_b": "b"}]',
        ["keys.json", "record 1", "missing", "winner"],
    ),
    (
        "fastchat",
        "broken.json",
        '[{"model_a": "a",\n "model_b": }]',
        ["broken.json", "line 2", "invalid JSON"],
    ),
    (
        "fastchat",
        "latin1.json",
        '[{"model_a": "caf\xe9"}]'.encode("latin-1"),
        ["latin1.json", "not valid UTF-8"],
    ),
    ("csv", "latin1.csv", "left,right,winner\ncaf\xe9,b,left\n".encode("latin-1"), ["latin1.csv", "UTF-8"]),
    (
        "fastchat",
        "names.json",
        '[{"model_a": "a", "model_b": null, "winner": "tie"}]',
        ["names.json", "record 1"],
    ),
    ("fastchat", "rows.json", '[["a", "b", "tie"]]', ["rows.json", "record 1", "JSON object"]),
    (
        "alpaca_eval",
        "pref.json",
        '[{"generator_1": "a", "generator_2": "b", "preference": 3}]',
        ["pref.json", "record 1", "preference 3"],
    ),
    (
        "alpaca_eval",
        "bool.json",
        '[{"generator_1": "a", "generator_2": "b", "preference": true}]',
        ["bool.json", "record 1", "True"],
    ),
    ("csv", "short.csv", "left,right,winner\na,b\n", ["short.csv", "line 2", "fields"]),
]


@pytest.mark.parametrize(
    ("file_format", "name", "content", "fragments"), BAD_INPUTS, ids=[b[1] for b in BAD_INPUTS]
)
def test_bad_input_is_a_clear_error_naming_file_and_place(tmp_path, file_format, name, content, fragments):
    path = write(tmp_path / name, content)

    with pytest.raises(BattleFileError) as caught:
        read_battle_files([path], file_format)

    for fragment in fragments:
        assert fragment in str(caught.value)


def test_missing_file_and_unknown_format_are_clear_errors(tmp_path):
    with pytest.raises(BattleFileError, match="cannot read"):
        read_battle_files([tmp_path / "absent.json"], "fastchat")
    with pytest.raises(BattleFileError, match="unknown format 'xml'"):
        read_battle_files([tmp_path / "absent.json"], "xml")
