"""The qlora and mtbench readers: battles, skipped records and clear errors naming file and line."""

import json

import numpy as np
import pytest

from leaderboard.battle_files import BattleFileError, ReadOptions, qlora_systems, read_battle_files

QLORA_NAME = "answer-gpt4-vs-65b-guanaco-vicuna-generations-topp0.9-temp0.7-gpt-4-reviewer-threeclass.jsonl"


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def review_lines(*scores) -> str:
    return "\n".join(
        json.dumps({"question_id": q, "score": s, "text": "..."}) for q, s in enumerate(scores, 1)
    )


def test_qlora_systems_come_from_the_file_name_first_shown_first():
    assert qlora_systems(f"/x/{QLORA_NAME}") == (
        "answer-gpt4",
        "65b-guanaco-vicuna-generations-topp0.9-temp0.7",
    )


def test_qlora_scores_map_to_a_b_tie_and_unparsed_are_left_out_and_counted(tmp_path):
    path = write(tmp_path / QLORA_NAME, review_lines(1, 2, 3, -1, 1))

    parsed = read_battle_files([path], "qlora")

    sequence = parsed.sequence
    assert [sequence.models[i] for i in sequence.a] == ["answer-gpt4"] * 4
    np.testing.assert_array_equal(sequence.score, [1.0, 0.0, 0.5, 1.0])
    assert parsed.skipped == 1
    assert parsed.skip_notes == ("skipped 1 unparsed reviews (score -1; --unparsed tie counts them as ties)",)
    assert list(parsed.records[0].numbers) == [1, 2, 3, 5]
    assert list(parsed.records[0].question_ids) == [1, 2, 3, 5]


def test_qlora_unparsed_tie_counts_them_as_ties(tmp_path):
    path = write(tmp_path / QLORA_NAME, review_lines(1, -1))

    parsed = read_battle_files([path], "qlora", ReadOptions(unparsed="tie"))

    np.testing.assert_array_equal(parsed.sequence.score, [1.0, 0.5])
    assert parsed.skipped == 0


def test_qlora_directory_reads_every_pair_file_sorted(tmp_path):
    write(tmp_path / "b-vs-a-gpt-4-reviewer-threeclass.jsonl", review_lines(1))
    write(tmp_path / "a-vs-b-gpt-4-reviewer-threeclass.jsonl", review_lines(2))
    write(tmp_path / "notes.txt", "not a review file")

    parsed = read_battle_files([tmp_path], "qlora")

    assert [p.split("/")[-1] for p in parsed.files] == [
        "a-vs-b-gpt-4-reviewer-threeclass.jsonl",
        "b-vs-a-gpt-4-reviewer-threeclass.jsonl",
    ]
    np.testing.assert_array_equal(parsed.sequence.a, [0, 1])  # a shown first, then b
    np.testing.assert_array_equal(parsed.sequence.score, [0.0, 1.0])  # b won both


def mtbench_line(**fields) -> str:
    record = {
        "question_id": 81,
        "model_1": "vicuna-13b",
        "model_2": "gpt-4",
        "g1_winner": "model_2",
        "g2_winner": "model_2",
        "judge": ["gpt-4", "pair-v2"],
        "turn": 1,
    }
    return json.dumps(record | fields)


def test_mtbench_counts_both_games_with_the_side_shown_first_as_a(tmp_path):
    lines = [
        mtbench_line(),
        mtbench_line(g1_winner="model_1", g2_winner="tie", turn=2),
        mtbench_line(g1_winner="error", g2_winner="model_1"),
    ]
    path = write(tmp_path / "gpt-4_pair.jsonl", "\n".join(lines))

    parsed = read_battle_files([path], "mtbench")

    sequence = parsed.sequence
    names = sequence.models
    assert [(names[a], names[b]) for a, b in zip(sequence.a, sequence.b, strict=True)] == [
        ("vicuna-13b", "gpt-4"),  # game 1: model_1 first
        ("gpt-4", "vicuna-13b"),  # game 2: swapped
        ("vicuna-13b", "gpt-4"),
        ("gpt-4", "vicuna-13b"),
        ("gpt-4", "vicuna-13b"),  # line 3's game 1 was an error, game 2 kept
    ]
    np.testing.assert_array_equal(sequence.score, [0.0, 1.0, 1.0, 0.5, 0.0])
    assert parsed.skipped == 1
    assert "skipped 1 games the judge answered with 'error'" in parsed.skip_notes


def test_mtbench_turn_filter_keeps_the_chosen_turns(tmp_path):
    path = write(
        tmp_path / "pair.jsonl", "\n".join([mtbench_line(turn=1), mtbench_line(turn=2, g1_winner="tie")])
    )

    parsed = read_battle_files([path], "mtbench", ReadOptions(turns=frozenset({2})))

    np.testing.assert_array_equal(parsed.sequence.score, [0.5, 1.0])


BAD_INPUTS = [
    ("qlora", "a-vs-b-gpt-4-reviewer-threeclass.jsonl", review_lines(1, 4), ["line 2", "score 4", "-1"]),
    ("qlora", "a-vs-b-gpt-4-reviewer-threeclass.jsonl", review_lines(1, True), ["line 2", "score True"]),
    (
        "qlora",
        "a-vs-b-gpt-4-reviewer-threeclass.jsonl",
        '{"score": 1}\n{"text": 1}',
        ["line 2", "missing key(s) score"],
    ),
    ("qlora", "a-vs-b-gpt-4-reviewer-threeclass.jsonl", '{"score": 1}\n{oops', ["line 2", "invalid JSON"]),
    ("qlora", "reviews.jsonl", review_lines(1), ["reviews.jsonl", "<A>-vs-<B>", "Rename"]),
    ("qlora", "a-vs-b-vs-c-gpt-4-reviewer-threeclass.jsonl", review_lines(1), ["more than one '-vs-'"]),
    ("qlora", "a-vs-a-gpt-4-reviewer-threeclass.jsonl", review_lines(1), ["line 1", "cannot battle itself"]),
    ("qlora", "a-vs-b-gpt-4-reviewer-threeclass.jsonl", '[{"score": 1}]', ["JSON lines"]),
    (
        "qlora",
        "a-vs-b-gpt-4-reviewer-threeclass.jsonl",
        review_lines(-1),
        ["no battles found", "skipped 1 unparsed"],
    ),
    ("mtbench", "pair.jsonl", mtbench_line(g1_winner="A"), ["line 1", "g1_winner 'A'"]),
    ("mtbench", "pair.jsonl", mtbench_line(g2_winner=None), ["line 1", "g2_winner None"]),
    ("mtbench", "pair.jsonl", mtbench_line() + "\n" + mtbench_line(turn="1"), ["line 2", "turn '1'"]),
    (
        "mtbench",
        "single.jsonl",
        json.dumps({"model": "x", "score": 7, "turn": 1}),
        ["line 1", "missing key(s)"],
    ),
    ("mtbench", "pair.jsonl", mtbench_line(model_2=""), ["line 1", "non-empty strings"]),
    ("mtbench", "pair.jsonl", mtbench_line(model_2="vicuna-13b"), ["line 1", "cannot battle itself"]),
]


@pytest.mark.parametrize(("file_format", "name", "content", "fragments"), BAD_INPUTS)
def test_bad_input_names_file_and_line(tmp_path, file_format, name, content, fragments):
    path = write(tmp_path / name, content)

    with pytest.raises(BattleFileError) as caught:
        read_battle_files([path], file_format)

    assert name in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_empty_directory_and_bad_unparsed_choice_are_clear_errors(tmp_path):
    with pytest.raises(BattleFileError, match="a directory with no qlora files"):
        read_battle_files([tmp_path], "qlora")
    with pytest.raises(BattleFileError, match="unparsed must be one of drop, tie"):
        read_battle_files([tmp_path], "qlora", ReadOptions(unparsed="zero"))
