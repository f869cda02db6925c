"""``manage.py rate`` options: Elo settings, orderings, ties, qlora/mtbench choices, and running with no
secret key and no database."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]


def rate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def ratings(out: str) -> dict[str, float]:
    return {row["model"]: row["rating"] for row in json.loads(out)}


@pytest.fixture
def two_wins(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("left,right,winner\na,b,left\na,b,left\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def with_ties(tmp_path):
    path = tmp_path / "ties.csv"
    path.write_text("left,right,winner\na,b,left\nb,a,tie\nb,c,left\nc,a,tie\nc,b,right\na,c,right\n")
    return str(path)


def test_elo_settings_follow_the_update_formula(two_wins):
    out, _ = rate(
        two_wins,
        "--format",
        "csv",
        "--method",
        "elo",
        "--json",
        *["--k", "32", "--initial", "1500"],
        *["--scale", "200", "--base", "2"],
    )

    # First win at equal ratings: expected 1/2, so ±16. Second: a's expected is 1 / (1 + 2^((1484 − 1516)/200)).
    expected = 1 / (1 + 2 ** ((1484 - 1516) / 200))
    a = 1516 + 32 * (1 - expected)
    assert ratings(out) == pytest.approx({"a": a, "b": 3000 - a}, abs=1e-9)


def test_permutations_average_orderings_with_an_interval_and_a_reproducible_seed(with_ties):
    args = (with_ties, "--format", "csv", "--method", "elo", "--k", "32", "--permutations", "300", "--json")

    first, _ = rate(*args)
    again, _ = rate(*args)
    other, _ = rate(*args, "--seed", "9")

    assert first == again and first != other
    rows = json.loads(first)
    assert all(row["ci_low"] < row["rating"] < row["ci_high"] for row in rows)
    assert sum(row["rating"] for row in rows) / 3 == pytest.approx(1000.0)


def test_permutations_combine_with_bootstrap(with_ties):
    base = (with_ties, "--format", "csv", "--method", "elo", "--permutations", "100", "--json")

    orderings_only, _ = rate(*base)
    with_bootstrap, _ = rate(*base, "--bootstrap", "100")

    points = [row["rating"] for row in json.loads(orderings_only)]
    assert [row["rating"] for row in json.loads(with_bootstrap)] == points
    assert [row["ci_low"] for row in json.loads(with_bootstrap)] != [
        row["ci_low"] for row in json.loads(orderings_only)
    ]


def test_ties_drop_rates_the_decisive_battles_only(with_ties, tmp_path):
    decisive = tmp_path / "decisive.csv"
    decisive.write_text("left,right,winner\na,b,left\nb,c,left\nc,b,right\na,c,right\n")

    dropped, err = rate(with_ties, "--format", "csv", "--method", "elo", "--ties", "drop", "--json")
    plain, _ = rate(str(decisive), "--format", "csv", "--method", "elo", "--json")

    assert json.loads(dropped) == json.loads(plain)
    assert "left out 2 ties (--ties drop)" in err


QLORA = "a-vs-b-gpt-4-reviewer-threeclass.jsonl"


def test_qlora_unparsed_count_is_printed_and_tie_counts_them(tmp_path):
    (tmp_path / QLORA).write_text('{"score": 1}\n{"score": -1}\n{"score": 2}\n')
    (tmp_path / "b-vs-a-gpt-4-reviewer-threeclass.jsonl").write_text('{"score": 1}\n')

    _, err = rate(str(tmp_path), "--format", "qlora", "--json")
    out, err_tie = rate(str(tmp_path), "--format", "qlora", "--unparsed", "tie", "--json")

    assert "skipped 1 unparsed reviews" in err
    assert "skipped" not in err_tie
    assert {row["model"]: row["n"] for row in json.loads(out)} == {"a": 4, "b": 4}


def test_mtbench_turn_is_passed_to_the_reader(tmp_path):
    line = {"question_id": 1, "model_1": "x", "model_2": "y", "g1_winner": "model_1", "g2_winner": "tie"}
    path = tmp_path / "pair.jsonl"
    path.write_text("\n".join(json.dumps(line | {"turn": t}) for t in (1, 2)) + "\n")

    out, _ = rate(
        str(path), "--format", "mtbench", "--method", "winrate", "--baseline", "y", "--turn", "2", "--json"
    )

    assert {row["model"]: row["n"] for row in json.loads(out)} == {"x": 2}


BAD_OPTIONS = [
    (["--method", "bt", "--k", "32"], "--k: only for --method elo (this run uses --method bt)"),
    (
        ["--method", "winrate", "--baseline", "a", "--permutations", "5"],
        "--permutations: only for --method elo",
    ),
    (["--method", "elo", "--k", "inf"], "--k must be a finite number, not inf"),
    (["--method", "elo", "--k", "0"], "--k must be a positive number, not 0"),
    (["--method", "elo", "--scale", "-400"], "--scale must be a positive number"),
    (["--method", "elo", "--base", "1"], "--base must be above 1"),
    (["--method", "elo", "--initial", "nan"], "--initial must be a finite number"),
    (["--method", "elo", "--permutations", "0"], "--permutations must be 1 or more, not 0"),
    (["--unparsed", "tie"], "--unparsed applies to --format qlora only"),
    (["--turn", "1"], "--turn applies to --format mtbench only"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_OPTIONS)
def test_mismatched_or_bad_options_are_refused_with_a_message(two_wins, extra, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rate(two_wins, "--format", "csv", *extra)


def test_ties_drop_on_a_file_of_ties_is_a_clear_error(tmp_path):
    path = tmp_path / "ties.csv"
    path.write_text("left,right,winner\na,b,tie\n")

    with pytest.raises(CommandError, match="every battle is a tie"):
        rate(str(path), "--format", "csv", "--ties", "drop")


def test_help_lists_every_option():
    result = subprocess.run(
        [sys.executable, "manage.py", "rate", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )

    for option in (
        "--format",
        "--method",
        "--bootstrap",
        "--seed",
        "--anchor",
        "--baseline",
        "--per-component",
        "--json",
        "--k",
        "--initial",
        "--scale",
        "--base",
        "--permutations",
        "--ties",
        "--unparsed",
        "--turn",
        "qlora",
        "mtbench",
    ):
        assert option in result.stdout


def test_rate_runs_with_no_secret_key_no_database_and_no_settings_module(two_wins, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG"}
    }
    env["ARENA_VAR_DIR"] = str(tmp_path / "var")  # would be created by the full settings; must stay absent

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "rate",
            two_wins,
            "--format",
            "csv",
            "--method",
            "elo",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert [row["model"] for row in json.loads(result.stdout)] == ["a", "b"]
    assert not (tmp_path / "var").exists()
