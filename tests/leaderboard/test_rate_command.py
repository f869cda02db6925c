"""``manage.py rate``: ratings straight from files, JSON and table output, and clear errors for bad input."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from leaderboard.management.commands.rate import Command

# Every pair met both ways with mixed results, so the Bradley–Terry MLE is finite.
CSV_VOTES = """left,right,winner,worker
alpha,beta,left,1
beta,alpha,left,2
alpha,gamma,left,3
gamma,alpha,tie,4
beta,gamma,left,5
gamma,beta,left,6
alpha,beta,left,7
gamma,alpha,right,8
"""


def fastchat_lines() -> str:
    label = {"left": "model_a", "right": "model_b", "tie": "tie"}
    rows = [line.split(",") for line in CSV_VOTES.strip().splitlines()[1:]]
    return "\n".join(json.dumps({"model_a": a, "model_b": b, "winner": label[w]}) for a, b, w, _ in rows)


ALPACA = [
    {"generator_1": "base", "generator_2": "m1", "preference": 2.0},
    {"generator_1": "base", "generator_2": "m1", "preference": 1.0},
    {"generator_1": "base", "generator_2": "m1", "preference": 1.75},
    {"generator_1": "base", "generator_2": "m2", "preference": 1.0},
    {"generator_1": "base", "generator_2": "m2", "preference": None},
]


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(CSV_VOTES, encoding="utf-8")
    return str(path)


@pytest.fixture
def fastchat_file(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text(fastchat_lines(), encoding="utf-8")
    return str(path)


@pytest.fixture
def alpaca_file(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(ALPACA), encoding="utf-8")
    return str(path)


def rate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_bt_json_rows_have_the_documented_shape_and_null_bounds_without_bootstrap(csv_file):
    out, _ = rate(csv_file, "--format", "csv", "--json")

    rows = json.loads(out)
    assert [set(row) for row in rows] == [{"model", "rating", "ci_low", "ci_high", "rank_ub", "n"}] * 3
    assert [row["rating"] for row in rows] == sorted((row["rating"] for row in rows), reverse=True)
    assert sum(row["rating"] for row in rows) / 3 == pytest.approx(1000.0)
    assert all(row["ci_low"] is None and row["ci_high"] is None for row in rows)
    assert {row["model"]: row["n"] for row in rows} == {"alpha": 6, "beta": 5, "gamma": 5}


def test_fastchat_and_csv_of_the_same_votes_give_the_same_ratings(csv_file, fastchat_file):
    from_csv, _ = rate(csv_file, "--format", "csv", "--json")
    from_fastchat, _ = rate(fastchat_file, "--format", "fastchat", "--json")

    assert json.loads(from_csv) == json.loads(from_fastchat)


def test_bootstrap_gives_intervals_and_the_seed_makes_them_reproducible(fastchat_file):
    args = (fastchat_file, "--format", "fastchat", "--bootstrap", "50", "--seed", "4", "--json")

    first, second = json.loads(rate(*args)[0]), json.loads(rate(*args)[0])

    assert first == second
    assert all(row["ci_low"] <= row["rating"] <= row["ci_high"] for row in first)


def test_elo_with_a_named_anchor(fastchat_file):
    out, _ = rate(fastchat_file, "--format", "fastchat", "--method", "elo", "--anchor", "beta=1200", "--json")

    ratings = {row["model"]: row["rating"] for row in json.loads(out)}
    assert ratings["beta"] == pytest.approx(1200.0)


def test_winrate_against_a_baseline_in_percent_from_alpaca_eval(alpaca_file):
    out, err = rate(
        alpaca_file, "--format", "alpaca_eval", "--method", "winrate", "--baseline", "base", "--json"
    )

    rows = json.loads(out)
    assert [set(row) for row in rows] == [{"model", "win_rate", "standard_error", "n"}] * 2
    m1 = rows[0]
    # m1 (generator_2) scores preference − 1 per annotation: 1, 0, 0.75.
    assert m1["model"] == "m1" and m1["n"] == 3
    assert m1["win_rate"] == pytest.approx(100 * 1.75 / 3)
    assert "skipped 1 records with a null preference" in err


def test_table_output_is_aligned_with_an_interval_column_only_when_bootstrapped(csv_file):
    plain, _ = rate(csv_file, "--format", "csv")
    with_ci, _ = rate(csv_file, "--format", "csv", "--bootstrap", "20")

    for table in (plain, with_ci):
        lines = table.strip("\n").splitlines()
        assert lines[0].split()[:3] == ["rank", "model", "rating"]
        assert len({len(line) for line in lines}) == 1
        assert len(lines) == 2 + 3
    assert "95% interval" in with_ci and "95% interval" not in plain


def test_winrate_table_names_the_baseline(alpaca_file):
    out, _ = rate(alpaca_file, "--format", "alpaca_eval", "--method", "winrate", "--baseline", "base")

    assert out.startswith("win rate against base (%)")
    assert "m1" in out and "m2" in out


def test_disconnected_files_are_refused_unless_fitted_per_component(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("left,right,winner\na,b,left\nb,a,left\nc,d,left\nd,c,left\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"disconnected .*a, b; c, d.*--per-component"):
        rate(str(path), "--format", "csv")
    _, err = rate(str(path), "--format", "csv", "--per-component")
    assert "not comparable" in err


BAD_FILES = [
    ("votes.csv", "left,right,winner\na,b,left\na,b,draw\n", "csv", ["votes.csv", "line 3", "'draw'"]),
    (
        "b.json",
        '[{"model_a": "a", "model_b": "b", "winner": "model_c"}]',
        "fastchat",
        ["b.json", "record 1", "'model_c'"],
    ),
    (
        "p.json",
        '[{"generator_1": "a", "generator_2": "b", "preference": 7}]',
        "alpaca_eval",
        ["p.json", "record 1", "7"],
    ),
    ("e.csv", "left,right,winner\n", "csv", ["no battles", "e.csv"]),
    ("one.csv", "left,right,winner\nsolo,solo,tie\n", "csv", ["one.csv", "line 2", "'solo'"]),
    ("x.csv", "left,right,winner\na,b,left\n", "fastchat", ["x.csv", "not a fastchat file"]),
    (
        "cols.csv",
        "model_a,model_b,winner\na,b,model_a\n",
        "csv",
        ["cols.csv", "missing CSV column", "left, right"],
    ),
    ("k.json", '[{"model_a": "a", "winner": "tie"}]', "fastchat", ["k.json", "record 1", "model_b"]),
    ("j.json", '[{"model_a": "a", "model_b": "b", "winner": "tie"}', "fastchat", ["j.json", "invalid JSON"]),
]


@pytest.mark.parametrize(
    ("name", "content", "file_format", "fragments"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_raise_command_error_naming_file_and_place(tmp_path, name, content, file_format, fragments):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    with pytest.raises(CommandError) as caught:
        rate(str(path), "--format", file_format)

    for fragment in fragments:
        assert fragment in str(caught.value)


def test_wrong_encoding_is_a_command_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("left,right,winner\ncaf\xe9,b,left\n".encode("latin-1"))

    with pytest.raises(CommandError, match="latin.csv: not valid UTF-8"):
        rate(str(path), "--format", "csv")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--method", "winrate"), "needs --baseline"),
        (
            ("--method", "winrate", "--baseline", "alpha", "--bootstrap", "5"),
            "--bootstrap apply to bt and elo",
        ),
        (("--baseline", "alpha"), "--baseline applies to --method winrate only"),
        (("--anchor", "alpha"), "SLUG=RATING"),
        (("--anchor", "alpha=high"), "SLUG=RATING"),
        (("--anchor", "omega=1200"), "'omega'"),
        (("--bootstrap", "-1"), "0 or more"),
        (("--method", "winrate", "--baseline", "omega"), "'omega'"),
    ],
)
def test_bad_options_raise_command_error(csv_file, args, message):
    with pytest.raises(CommandError, match=message):
        rate(csv_file, "--format", "csv", *args)


def test_bad_input_exits_non_zero_with_the_message_on_stderr(tmp_path, capsys):
    path = tmp_path / "votes.csv"
    path.write_text("left,right,winner\na,b,sideways\n", encoding="utf-8")

    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["manage.py", "rate", str(path), "--format", "csv"])

    assert exit_info.value.code != 0
    assert "line 2: unknown winner label 'sideways'" in capsys.readouterr().err
