"""`manage.py import_battles`: battle files into verdicts of an import source, all or nothing."""

import json

import pytest
from django.core.management import CommandError, call_command

from arena.models import Battle, Contender, Output, Prompt, PromptSet, Source, Verdict
from leaderboard.models import Snapshot
from leaderboard.services.recompute import leaderboards_recompute
from tests.support import factories

pytestmark = pytest.mark.django_db

FASTCHAT = [
    {"model_a": "gpt-4", "model_b": "vicuna-13b", "winner": "model_a", "question_id": "q1"},
    {"model_a": "vicuna-13b", "model_b": "claude-v1", "winner": "tie (bothbad)", "question_id": "q1"},
    {"model_a": "claude-v1", "model_b": "gpt-4", "winner": "model_b", "question_id": "q2"},
    {"model_a": "gpt-4", "model_b": "claude-v1", "winner": "tie"},
    {"model_a": "vicuna-13b", "model_b": "gpt-4", "winner": "model_b"},
    {"model_a": "claude-v1", "model_b": "vicuna-13b", "winner": "model_a"},
]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("import_battles", *args, stdout=out)
    return out.getvalue()


def nothing_written():
    return not (Verdict.objects.exists() or Battle.objects.exists() or Prompt.objects.exists()) and not (
        Contender.objects.exclude(slug="existing").exists() or Source.objects.filter(kind="import").exists()
    )


def test_fastchat_battles_become_verdicts_of_an_import_source(tmp_path):
    factories.make_contender("gpt-4", name="GPT-4", status="approved")
    path = write(tmp_path, "arena-dump.json", json.dumps(FASTCHAT))

    out = run(path, "--format", "fastchat")

    source = Source.objects.get(key="import-arena-dump")
    assert source.kind == "import" and "Imported 6 records" in out
    outcomes = list(Verdict.objects.filter(source=source).order_by("pk").values_list("outcome", "score"))
    assert outcomes == [("a", 1.0), ("both_bad", 0.5), ("b", 0.0), ("tie", 0.5), ("b", 0.0), ("a", 1.0)]
    assert set(Verdict.objects.values_list("dimension__slug", flat=True)) == {"overall"}
    # One prompt per question id, one per battle without one; a placeholder answer per contender and prompt.
    prompts = PromptSet.objects.get(slug="imported-import-arena-dump").prompts
    assert prompts.count() == 5 and prompts.filter(external_id="q:q1").exists()
    assert Output.objects.count() == 3 + 2 + 3 * 2 and Battle.objects.count() == 6
    statuses = dict(Contender.objects.values_list("slug", "status"))
    assert statuses == {"gpt-4": "approved", "vicuna-13b": "pending", "claude-v1": "pending"}
    assert "Pending review" in out and "vicuna-13b" in out


def test_reimporting_the_same_file_adds_nothing(tmp_path):
    path = write(tmp_path, "battles.json", json.dumps(FASTCHAT))
    run(path, "--format", "fastchat", "--approve-new")

    out = run(path, "--format", "fastchat", "--approve-new")

    assert "0 new verdicts, 0 new battles" in out and Verdict.objects.count() == 6


def test_csv_with_a_named_source_and_approved_new_contenders_gets_a_leaderboard(tmp_path, settings):
    settings.LEADERBOARD_MIN_VERDICTS = 1
    rows = ["left,right,winner"] + [
        "a-model,b-model,left",
        "b-model,c-model,right",
        "c-model,a-model,tie",
    ] * 3
    path = write(tmp_path, "battles.csv", "\n".join(rows) + "\n")

    run(path, "--format", "csv", "--source", "lmsys", "--source-name", "LMSYS dump", "--approve-new")

    assert Source.objects.get(key="lmsys").name == "LMSYS dump"
    assert set(Contender.objects.values_list("status", flat=True)) == {"approved"}
    run_ = leaderboards_recompute(trigger="test")
    snapshot = Snapshot.objects.get(run=run_, source_key="lmsys", category="")
    assert snapshot.source_kind == "import" and snapshot.n_verdicts == 9 and snapshot.rows.count() == 3


def test_a_bad_label_names_the_line_and_writes_nothing(tmp_path):
    factories.make_contender("existing")
    path = write(tmp_path, "bad.csv", "left,right,winner\nx,y,left\nx,y,draw\n")

    with pytest.raises(
        CommandError, match=r"bad.csv: line 3: unknown winner label 'draw'.*Nothing was imported"
    ):
        run(path, "--format", "csv")
    assert nothing_written()


def test_names_that_would_share_a_slug_are_refused(tmp_path):
    records = [{"model_a": "GPT 4", "model_b": "gpt-4", "winner": "tie"}]
    path = write(tmp_path, "clash.json", json.dumps(records))

    with pytest.raises(CommandError, match="'GPT 4' and 'gpt-4' would both get the slug 'gpt-4'"):
        run(path, "--format", "fastchat")
    assert nothing_written()


def test_a_source_key_taken_by_a_judge_is_refused(tmp_path):
    Source.objects.create(kind="judge", key="judge-x", name="X")
    path = write(tmp_path, "b.json", json.dumps(FASTCHAT))

    with pytest.raises(CommandError, match="Source 'judge-x' already exists as a LLM judge source"):
        run(path, "--format", "fastchat", "--source", "judge-x")
    assert not Verdict.objects.exists() and not Contender.objects.exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.json", None, "cannot read the file"),
        ("notjson.json", "[{", "invalid JSON"),
        ("csvlike.json", "left,right,winner\n", "not a fastchat file"),
        (
            "self.json",
            json.dumps([{"model_a": "m", "model_b": "m", "winner": "tie"}]),
            "cannot battle itself",
        ),
        ("empty.json", "[]", "no battles found"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(tmp_path, name, text, message):
    path = str(tmp_path / name) if text is None else write(tmp_path, name, text)

    with pytest.raises(CommandError, match=message):
        run(path, "--format", "fastchat")
    assert nothing_written()


def test_a_bad_source_key_is_refused(tmp_path):
    path = write(tmp_path, "b.json", json.dumps(FASTCHAT))

    with pytest.raises(CommandError, match="Source key 'judges' is not usable"):
        run(path, "--format", "fastchat", "--source", "judges")
    assert nothing_written()


def test_alpaca_eval_preferences_keep_soft_scores(tmp_path):
    records = [
        {"generator_1": "m1", "generator_2": "m2", "preference": 1},
        {"generator_1": "m1", "generator_2": "m2", "preference": 1.25},
        {"generator_1": "m2", "generator_2": "m1", "preference": None},
    ]
    path = write(tmp_path, "alpaca.json", json.dumps(records))

    run(path, "--format", "alpaca_eval")

    assert list(Verdict.objects.order_by("pk").values_list("outcome", "score")) == [("a", 1.0), (None, 0.75)]


def test_qlora_and_mtbench_files_import_with_their_outcomes(tmp_path):
    directory = tmp_path / "reviews"
    directory.mkdir()
    (directory / "gpt-4-vs-bard-gpt-4-reviewer-threeclass.jsonl").write_text(
        '{"question_id": 1, "score": 1}\n{"question_id": 2, "score": 3}\n{"question_id": 3, "score": -1}\n'
    )
    line = {"question_id": 81, "model_1": "gpt-4", "model_2": "bard", "g1_winner": "model_2", "turn": 1}
    mtbench = write(tmp_path, "gpt-4_pair.jsonl", json.dumps(line | {"g2_winner": "model_1"}))

    run(str(directory), "--format", "qlora", "--source", "qlora-reviews")
    run(mtbench, "--format", "mtbench", "--source", "mt-bench")

    qlora = Verdict.objects.filter(source__key="qlora-reviews")
    assert sorted(qlora.values_list("contender_a__slug", "outcome")) == [("gpt-4", "a"), ("gpt-4", "tie")]
    mt = Verdict.objects.filter(source__key="mt-bench")
    # Game 1 (gpt-4 shown first) went to bard; game 2 (bard shown first) went to gpt-4.
    assert sorted(mt.values_list("contender_a__slug", "outcome")) == [("bard", "b"), ("gpt-4", "b")]


def test_a_bad_qlora_file_imports_nothing(tmp_path):
    directory = tmp_path / "reviews"
    directory.mkdir()
    (directory / "a-vs-b-gpt-4-reviewer-threeclass.jsonl").write_text('{"score": 1}\n{"score": 7}\n')

    with pytest.raises(CommandError, match=r"a-vs-b-gpt-4-reviewer-threeclass.jsonl: line 2: score 7"):
        run(str(directory), "--format", "qlora")
    assert nothing_written()
