"""`import_judgments` (qlora, mtbench) and `judge_report`: real data, small real-shaped fixtures, bad input."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from arena.models import Battle, Contender, Output, Prompt, Source, Verdict
from judges.models import FinalVerdict, JudgeConfig, Judgment
from tests.support.shared_data import SHARED_DATA, shared_data_skip_reason

pytestmark = pytest.mark.django_db
VICUNA = SHARED_DATA / "vicuna80"


def run(command, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def nothing_written() -> bool:
    return (
        not any(
            m.objects.exists() for m in (Judgment, Battle, Verdict, Prompt, Output, Contender, JudgeConfig)
        )
        and not Source.objects.filter(kind="judge").exists()
    )


# --- qlora: the real Vicuna-80 study ------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _independent_vicuna_figures() -> dict:
    """Position and length figures straight from the files, by a route independent of the importer."""
    systems = {}
    for path in (VICUNA / "generations").glob("*.jsonl"):
        name = "answer-" + path.stem[7:] if path.stem.startswith("answer_") else path.stem
        for row in _jsonl(path):
            text = row.get("generation_truncated", row["text"])
            cut = text.find("A chat between a curious human and an artificial intelligence")
            systems[name, row["question_id"]] = text if cut < 0 else text[:cut].rstrip()
    by_unit: dict[tuple, dict[str, int]] = defaultdict(dict)
    first_choices = decisive = longer = length_eligible = 0
    for path in (VICUNA / "gpt4-pairwise").glob("*.jsonl"):
        head = path.stem.removesuffix("-gpt-4-reviewer-threeclass")
        first = next(
            s
            for s, _ in systems
            if head.startswith(s + "-vs-") and head[len(s) + 4 :] in {t for t, _ in systems}
        )
        second = head[len(first) + 4 :]
        for row in _jsonl(path):
            q, score = row["question_id"], row["score"]
            by_unit[(q, *sorted((first, second)))][first] = score
            if score in (1, 2):
                decisive += 1
                first_choices += score == 1
                la, lb = len(systems[first, q]), len(systems[second, q])
                if la != lb:
                    length_eligible += 1
                    longer += (score == 1) == (la > lb)
    classes: Counter[str] = Counter()
    for (_, low, high), orders in by_unit.items():
        s1, s2 = orders[low], orders[high]  # low shown first, then high shown first
        if -1 in (s1, s2):
            classes["error"] += 1
        elif (s1, s2) in ((1, 2), (2, 1), (3, 3)):
            classes["consistent"] += 1
        elif (s1, s2) == (1, 1):
            classes["biased_first"] += 1
        elif (s1, s2) == (2, 2):
            classes["biased_second"] += 1
        else:
            classes["other"] += 1
    n = len(by_unit)
    return {
        **{k: classes[k] / n for k in ("consistent", "biased_first", "biased_second", "other", "error")},
        "prefer_first": first_choices / decisive,
        "prefer_longer": longer / length_eligible,
        "units": n,
        "texts": systems,
    }


@pytest.fixture
def vicuna():
    reason = shared_data_skip_reason("vicuna80")
    if reason:
        pytest.skip(reason)
    return VICUNA


@pytest.mark.shared_data
def test_vicuna80_import_and_report_match_an_independent_computation(vicuna):
    out = run(
        "import_judgments", str(vicuna), "--format", "qlora", "--source", "gpt4-vicuna", "--approve-new"
    )
    assert "2240 battles" in out
    card = json.loads(run("judge_report", "--source", "gpt4-vicuna", "--json", "--rounds", "50"))
    expected = _independent_vicuna_figures()
    for key in (
        "consistent",
        "biased_first",
        "biased_second",
        "other",
        "error",
        "prefer_first",
        "prefer_longer",
    ):
        assert card[key] == pytest.approx(expected[key], abs=1e-12), key  # same counts, float rounding only
        assert 0.0 <= card[key] <= 1.0
    assert card["figures"]["consistent"]["n"] == expected["units"] == 2240
    assert sum(
        card[k] for k in ("consistent", "biased_first", "biased_second", "other", "error")
    ) == pytest.approx(1.0)
    # The stored answers are the texts the judge saw (generation_truncated, cut before a new chat).
    stored = {
        (o.contender.name, int(o.prompt.external_id)): o.text
        for o in Output.objects.select_related("contender", "prompt")
    }
    assert stored == expected["texts"]
    # Re-importing adds nothing.
    again = run("import_judgments", str(vicuna), "--format", "qlora", "--source", "gpt4-vicuna")
    assert "0 new judgments, 0 new verdicts" in again
    assert Judgment.objects.count() == 4480


@pytest.mark.shared_data
def test_vicuna80_answer_ids_show_which_text_was_judged(vicuna):
    """Every (system, question) is judged under one answer id in every file and either position, and for the
    answer_* systems that id is the generation file's own: the judged text is the one file gives."""
    ids: dict[tuple, set] = defaultdict(set)
    for path in (vicuna / "gpt4-pairwise").glob("*.jsonl"):
        head = path.stem.removesuffix("-gpt-4-reviewer-threeclass")
        first, second = head.split("-vs-")[0], head.split("-vs-", 1)[1]
        for row in _jsonl(path):
            ids[first, row["question_id"]].add(row["answer1_id"])
            ids[second, row["question_id"]].add(row["answer2_id"])
    assert all(len(found) == 1 for found in ids.values())
    for path in (vicuna / "generations").glob("answer_*.jsonl"):
        system = "answer-" + path.stem[7:]
        for row in _jsonl(path):
            assert ids[system, row["question_id"]] == {row["answer_id"]}


# --- small real-shaped fixtures -------------------------------------------------------------------------


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def make_qlora(root: Path, score_override=None) -> Path:
    write_jsonl(root / "questions.jsonl", [{"question_id": 1, "text": "Why is the sky blue?", "category": "generic"},
                                            {"question_id": 2, "text": "Name a prime.", "category": "math"}])  # fmt: skip
    write_jsonl(root / "generations" / "answer_alpha.jsonl", [
        {"answer_id": "a1", "question_id": 1, "text": "Rayleigh scattering of short wavelengths."},
        {"answer_id": "a2", "question_id": 2, "text": "7"},
    ])  # fmt: skip
    write_jsonl(root / "generations" / "7b-beta.jsonl", [
        {"question_id": 1, "text": "Why is the sky blue?", "generation": "Because. ### Human: more",
         "generation_truncated": "Because of the air. A chat between a curious human and an artificial intelligence ..."},
        {"question_id": 2, "text": "Name a prime.", "generation": "4", "generation_truncated": "4"},
    ])  # fmt: skip
    pair = root / "gpt4-pairwise"
    write_jsonl(pair / "answer-alpha-vs-7b-beta-gpt-4-reviewer-threeclass.jsonl", [
        {"question_id": 1, "answer1_id": "a1", "answer2_id": "x1", "score": 1, "text": "first\n1"},
        {"question_id": 2, "answer1_id": "a2", "answer2_id": "x2", "score": score_override or 1, "text": "first\n1"},
    ])  # fmt: skip
    write_jsonl(pair / "7b-beta-vs-answer-alpha-gpt-4-reviewer-threeclass.jsonl", [
        {"question_id": 1, "answer1_id": "x1", "answer2_id": "a1", "score": 2, "text": "second\n2"},
        {"question_id": 2, "answer1_id": "x2", "answer2_id": "a2", "score": 1, "text": "first\n1"},
    ])  # fmt: skip
    return root


def test_qlora_fixture_import_creates_both_orders_and_final_verdicts(tmp_path):
    root = make_qlora(tmp_path / "study")
    run(
        "import_judgments",
        str(root),
        "--format",
        "qlora",
        "--source",
        "gpt4-small",
        "--source-name",
        "GPT-4 small",
    )
    assert Judgment.objects.count() == 4 and Battle.objects.count() == 2
    finals = {
        f.battle.prompt.external_id: (f.outcome, f.inconsistent)
        for f in FinalVerdict.objects.select_related("battle__prompt")
    }
    # Battle A is "7b-beta" (sorts first). Q1: beta first lost (score 2 → alpha), alpha first won: both
    # alpha = "b". Q2: alpha first won, beta first won: position bias → inconsistent tie.
    assert finals == {"1": ("b", False), "2": ("tie", True)}
    assert (
        Output.objects.get(contender__slug="7b-beta", prompt__external_id="1").text == "Because of the air."
    )
    assert set(Contender.objects.values_list("status", flat=True)) == {"pending"}
    source = Source.objects.get(key="gpt4-small")
    assert (source.kind, source.name) == ("judge", "GPT-4 small")
    assert Verdict.objects.filter(source=source).count() == 2
    card = json.loads(run("judge_report", "--source", "gpt4-small", "--json", "--rounds", "0"))
    assert (card["consistent"], card["biased_first"]) == (0.5, 0.5)


MT_QUESTIONS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a haiku about rain.", "Now make it rhyme."]},
    {"question_id": 82, "category": "math", "turns": ["What is 2+2?", "And 3+3?"]},
]


def make_mtbench(root: Path, judgments=None) -> Path:
    write_jsonl(root / "question.jsonl", MT_QUESTIONS)
    for model, answers in {
        "gpt-4": {81: ["Rain falls soft", "Rain again, in vain"], 82: ["4", "6"]},
        "vicuna-13b-v1.3": {81: ["Drops on the roof", "Drops, no stops"], 82: ["5", "6"]},
    }.items():
        write_jsonl(root / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model, "choices": [{"index": 0, "turns": t}], "tstamp": 1.0}
            for q, t in answers.items()
        ])  # fmt: skip
    judge = ["gpt-4", "pair-v2"]
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", judgments or [
        {"question_id": 81, "model_1": "gpt-4", "model_2": "vicuna-13b-v1.3", "g1_winner": "model_1", "g2_winner": "model_1",
         "judge": judge, "g1_judgment": "[[A]]", "g2_judgment": "[[B]]", "turn": 1, "tstamp": 1.0},
        {"question_id": 82, "model_1": "gpt-4", "model_2": "vicuna-13b-v1.3", "g1_winner": "model_1", "g2_winner": "model_2",
         "judge": judge, "g1_judgment": "[[A]]", "g2_judgment": "[[A]]", "turn": 1, "tstamp": 1.0},
        {"question_id": 81, "model_1": "gpt-4", "model_2": "vicuna-13b-v1.3", "g1_winner": "tie", "g2_winner": "error",
         "judge": ["gpt-4", "pair-v2-multi-turn"], "g1_judgment": "[[C]]", "g2_judgment": "?", "turn": 2, "tstamp": 1.0},
    ])  # fmt: skip
    return root


def test_mtbench_fixture_import_maps_winners_back_to_positions(tmp_path):
    root = make_mtbench(tmp_path / "mt_bench")
    run("import_judgments", str(root), "--format", "mtbench", "--source", "mt-gpt4", "--approve-new")
    assert Battle.objects.count() == 3 and Judgment.objects.count() == 6
    # Battle A is "gpt-4". q81 t1: gpt-4 won in both orders → a. q82: g1 model_1 (gpt-4 first, chose first),
    # g2 model_2 (vicuna first... winner vicuna = the first shown) → inconsistent tie. q81 t2: error → no verdict.
    finals = {
        f.battle.prompt.external_id: (f.outcome, f.inconsistent)
        for f in FinalVerdict.objects.select_related("battle__prompt")
    }
    assert finals == {"81": ("a", False), "82": ("tie", True)}
    swapped = Judgment.objects.get(battle__prompt__external_id="82", order="swapped")
    assert swapped.verdicts == {"overall": "A"}  # vicuna shown first and chosen: position A
    assert (
        Judgment.objects.get(battle__prompt__external_id="81-turn2", order="swapped").status == "parse_failed"
    )
    assert (
        "Turn 2" in Prompt.objects.get(external_id="81-turn2").text
        or "turn 2" in Prompt.objects.get(external_id="81-turn2").text
    )
    card = json.loads(run("judge_report", "--source", "mt-gpt4", "--json", "--rounds", "0"))
    assert (card["consistent"], card["biased_first"], card["error"]) == (pytest.approx(1 / 3),) * 3
    # The judgment file alone also works: the bench folder is two levels up.
    again = run(
        "import_judgments",
        str(root / "model_judgment" / "gpt-4_pair.jsonl"),
        "--format",
        "mtbench",
        "--source",
        "mt-gpt4",
    )
    assert "0 new judgments" in again


# --- bad input: a clear message, nothing written --------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda root: make_qlora(root, score_override=7),
            "answer-alpha-vs-7b-beta-gpt-4-reviewer-threeclass.jsonl:2: score 7",
        ),
        (
            lambda root: (make_qlora(root), (root / "questions.jsonl").write_text("{not json\n")),
            "questions.jsonl:1: not valid JSON",
        ),
        (
            lambda root: (make_qlora(root), (root / "generations" / "answer_alpha.jsonl").unlink()),
            "known systems: 7b-beta",
        ),
        (lambda root: None, "no such file or folder"),
    ],
)
def test_bad_qlora_input_names_file_and_line_and_writes_nothing(tmp_path, mutate, message):
    root = tmp_path / "study"
    mutate(root)
    with pytest.raises(CommandError, match="Nothing was imported") as raised:
        run("import_judgments", str(root), "--format", "qlora", "--source", "bad-study")
    assert message in str(raised.value)
    assert nothing_written()


def test_bad_mtbench_winner_and_unknown_question_write_nothing(tmp_path):
    bad = [{"question_id": 99, "model_1": "gpt-4", "model_2": "vicuna-13b-v1.3", "g1_winner": "model_1",
            "g2_winner": "model_1", "judge": ["gpt-4", "pair-v2"], "turn": 1}]  # fmt: skip
    root = make_mtbench(tmp_path / "mt", judgments=bad)
    with pytest.raises(CommandError, match=r"gpt-4_pair.jsonl:1: question_id 99 is not in question.jsonl"):
        run("import_judgments", str(root), "--format", "mtbench", "--source", "mt-bad")
    bad[0].update(question_id=81, g2_winner="model_3")
    root = make_mtbench(tmp_path / "mt2", judgments=bad)
    with pytest.raises(CommandError, match=r"gpt-4_pair.jsonl:1: g2_winner 'model_3'"):
        run("import_judgments", str(root), "--format", "mtbench", "--source", "mt-bad")
    assert nothing_written()


def test_source_key_of_people_or_of_a_live_judge_is_refused(tmp_path):
    from tests.judges.conftest import make_judge

    root = make_qlora(tmp_path / "study")
    Source.objects.create(kind="human", key="crowd", name="Crowd")
    with pytest.raises(CommandError, match="already exists as a People source"):
        run("import_judgments", str(root), "--format", "qlora", "--source", "crowd")
    make_judge("live-judge", provider="lexical", model="token_f1", sees_reference=True)
    with pytest.raises(CommandError, match="is a live judge"):
        run("import_judgments", str(root), "--format", "qlora", "--source", "live-judge")
    with pytest.raises(CommandError, match="not usable"):
        run("import_judgments", str(root), "--format", "qlora", "--source", "Bad Key")
    assert not Judgment.objects.exists() and not Battle.objects.exists() and not Contender.objects.exists()


def test_judge_report_bad_arguments_say_what_is_known(tmp_path):
    run("import_judgments", str(make_qlora(tmp_path / "s")), "--format", "qlora", "--source", "gpt4-small")
    before = (Judgment.objects.count(), Verdict.objects.count())
    with pytest.raises(CommandError, match=r"No judge source 'nope' \(judge sources: gpt4-small\)"):
        run("judge_report", "--source", "nope")
    with pytest.raises(CommandError, match="No dimension 'zzz'"):
        run("judge_report", "--source", "gpt4-small", "--dimension", "zzz")
    with pytest.raises(CommandError, match="has no version 9"):
        run("judge_report", "--source", "gpt4-small", "--judge-version", "9")
    assert (Judgment.objects.count(), Verdict.objects.count()) == before
    text = run("judge_report", "--source", "gpt4-small", "--rounds", "0")
    assert "consistent" in text and "n=2" in text


def test_reimport_with_a_changed_question_writes_nothing(tmp_path):
    root = make_qlora(tmp_path / "study")
    run("import_judgments", str(root), "--format", "qlora", "--source", "gpt4-small")
    counts = (
        Judgment.objects.count(),
        Verdict.objects.count(),
        Output.objects.count(),
        Prompt.objects.count(),
    )
    write_jsonl(root / "questions.jsonl", [{"question_id": 1, "text": "Why is the sea blue?"},
                                            {"question_id": 2, "text": "Name a prime."}])  # fmt: skip
    with pytest.raises(CommandError, match="Question 1 differs from the one stored"):
        run("import_judgments", str(root), "--format", "qlora", "--source", "gpt4-small")
    assert (
        Judgment.objects.count(),
        Verdict.objects.count(),
        Output.objects.count(),
        Prompt.objects.count(),
    ) == counts
    assert Prompt.objects.get(external_id="1").text == "Why is the sky blue?"


def test_mtbench_line_pairing_a_model_with_itself_is_refused(tmp_path):
    same = [{"question_id": 81, "model_1": "gpt-4", "model_2": "gpt-4", "g1_winner": "tie", "g2_winner": "tie",
             "judge": ["gpt-4", "pair-v2"], "turn": 1}]  # fmt: skip
    root = make_mtbench(tmp_path / "mt", judgments=same)
    with pytest.raises(CommandError, match=r"gpt-4_pair.jsonl:1: model_1 and model_2 are both 'gpt-4'"):
        run("import_judgments", str(root), "--format", "mtbench", "--source", "mt-same")
    assert nothing_written()
