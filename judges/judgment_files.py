"""Readers for outside pairwise *judgment* studies (answers, both orders, the judge's text), no Django.

Unlike the battle-file readers used by `rate` and `import_battles` (outcomes only), these keep what a judge
report needs: the questions, every answer text as the judge saw it, and each order's positional verdict.

- ``qlora``: a folder shaped like the QLoRA paper's Vicuna-80 release: ``questions.jsonl``,
  ``generations/*.jsonl`` (one system per file: ``answer_x.jsonl`` is system ``answer-x`` with the answer in
  ``text``; other files give ``generation_truncated`` or ``generation``, cut before any "A chat between a
  curious human and an artificial intelligence" continuation, which is how the judge saw it) and
  ``gpt4-pairwise/<A>-vs-<B>-<judge>-reviewer-threeclass.jsonl``: the judge's review of A shown first and B
  second, ``score`` 1 = first better, 2 = second, 3 = tie, -1 = unparsed.
- ``mtbench``: FastChat llm_judge's layout: ``question.jsonl`` (``question_id``, ``category``, ``turns``),
  ``model_answer/<model>.jsonl`` (``choices[0].turns``) and pairwise judgments
  ``model_judgment/*pair*.jsonl`` (``question_id``, ``model_1``, ``model_2``, ``g1_winner`` with model_1 shown
  first, ``g2_winner`` with model_2 first, both naming the winner as "model_1"/"model_2"/"tie"/"error",
  ``judge`` = [judge model, prompt name], ``turn``). PATH is the bench folder or one judgment file in it.

Every problem raises `JudgmentFileError` naming the file and line; nothing is returned half-read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

JUDGMENT_FORMATS = ("qlora", "mtbench")
CHAT_CONTINUATION = "A chat between a curious human and an artificial intelligence"
QLORA_SCORES = {1: "A", 2: "B", 3: "tie", -1: None}


class JudgmentFileError(Exception):
    """A judgment study that cannot be read; the message names the file (and line) and what to fix."""


@dataclass(frozen=True)
class StudyQuestion:
    key: str  # unique within the study: the question id, plus "-turn2" for a second turn
    text: str
    category: str = ""


@dataclass(frozen=True)
class StudyOrder:
    """One order of one unit: `first` was shown first; `choice` is "A" (first), "B", "tie" or None."""

    first: str
    second: str
    choice: str | None
    text: str = ""
    where: str = ""  # "file:line", for messages


@dataclass
class Study:
    """A judgment study as read: the judge model, questions, answers[(system, question key)] and, per unit
    (question key, unordered system pair), its orders keyed by the system shown first."""

    judge: str
    questions: dict[str, StudyQuestion] = field(default_factory=dict)
    answers: dict[tuple[str, str], str] = field(default_factory=dict)
    units: dict[tuple[str, str, str], dict[str, StudyOrder]] = field(default_factory=dict)
    answer_ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_order(self, question: str, order: StudyOrder) -> None:
        low, high = sorted((order.first, order.second))
        unit = self.units.setdefault((question, low, high), {})
        if order.first in unit:
            raise JudgmentFileError(
                f"{order.where}: a second judgment of {order.first} shown before {order.second} on question "
                f"{question} (the first is at {unit[order.first].where}); keep one per order."
            )
        unit[order.first] = order


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise JudgmentFileError(f"{path}: cannot be read as UTF-8 text ({error}).") from error
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise JudgmentFileError(f"{path}:{number}: not valid JSON ({error.msg}).") from error
        if not isinstance(row, dict):
            raise JudgmentFileError(f"{path}:{number}: expected a JSON object on each line.")
        rows.append((number, row))
    return rows


def _field(row: dict, name: str, path: Path, number: int, kind: type | tuple = str):
    if name not in row:
        raise JudgmentFileError(f"{path}:{number}: field {name!r} is missing.")
    value = row[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise JudgmentFileError(
            f"{path}:{number}: field {name!r} has the wrong type ({type(value).__name__})."
        )
    return value


def study_read(path: str, file_format: str) -> Study:
    """Read the study at `path` in `file_format` (one of `JUDGMENT_FORMATS`)."""
    if file_format not in JUDGMENT_FORMATS:
        raise JudgmentFileError(f"Unknown format {file_format!r}: use one of {', '.join(JUDGMENT_FORMATS)}.")
    root = Path(path)
    if not root.exists():
        raise JudgmentFileError(f"{path}: no such file or folder.")
    return _qlora(root) if file_format == "qlora" else _mtbench(root)


# --- qlora --------------------------------------------------------------------------------------------


def seen_answer(row: dict) -> tuple[str, str]:
    """(field read, text) of a qlora generation row as the judge saw it."""
    for name in ("generation_truncated", "generation"):
        if isinstance(row.get(name), str):
            text = row[name]
            cut = text.find(CHAT_CONTINUATION)
            return name, (text[:cut].rstrip() if cut >= 0 else text)
    return "text", row.get("text")


def qlora_system_name(stem: str) -> str:
    """`answer_x` files hold system `answer-x` (the name the pairwise files use); others keep their stem."""
    return "answer-" + stem[len("answer_") :] if stem.startswith("answer_") else stem


def _qlora(root: Path) -> Study:
    if not root.is_dir():
        raise JudgmentFileError(
            f"{root}: the qlora format reads a folder (questions.jsonl, generations/, gpt4-pairwise/)."
        )
    questions_path = root / "questions.jsonl"
    if not questions_path.is_file():
        raise JudgmentFileError(f"{questions_path}: missing; the qlora folder needs its questions file.")
    questions = {}
    for number, row in _jsonl(questions_path):
        qid = str(_field(row, "question_id", questions_path, number, (int, str)))
        questions[qid] = StudyQuestion(
            qid, _field(row, "text", questions_path, number), str(row.get("category", ""))
        )
    answers, answer_ids = _qlora_answers(root, set(questions))
    pair_dir = root / "gpt4-pairwise"
    files = sorted(pair_dir.glob("*.jsonl")) if pair_dir.is_dir() else []
    if not files:
        raise JudgmentFileError(f"{pair_dir}: no judgment files (*.jsonl) found.")
    systems = sorted({s for s, _ in answers}, key=len, reverse=True)
    study = Study(judge="", questions=questions, answers=answers, answer_ids=answer_ids)
    for path in files:
        first, second, judge = _qlora_pair_name(path, systems)
        if study.judge and judge != study.judge:
            raise JudgmentFileError(
                f"{path}: judged by {judge!r}, other files by {study.judge!r}; import one judge at a time."
            )
        study.judge = judge
        for number, row in _jsonl(path):
            _qlora_judgment(study, path, number, row, first, second)
    return study


def _qlora_answers(root: Path, question_ids: set[str]):
    gen_dir = root / "generations"
    files = sorted(gen_dir.glob("*.jsonl")) if gen_dir.is_dir() else []
    if not files:
        raise JudgmentFileError(f"{gen_dir}: no generation files (*.jsonl) found.")
    answers, answer_ids = {}, {}
    for path in files:
        system = qlora_system_name(path.stem)
        for number, row in _jsonl(path):
            qid = str(_field(row, "question_id", path, number, (int, str)))
            if qid not in question_ids:
                raise JudgmentFileError(f"{path}:{number}: question_id {qid} is not in questions.jsonl.")
            name, text = seen_answer(row)
            if not isinstance(text, str) or not text.strip():
                raise JudgmentFileError(f"{path}:{number}: field {name!r} must be a non-empty answer text.")
            answers[system, qid] = text
            if isinstance(row.get("answer_id"), str):
                answer_ids[system, qid] = row["answer_id"]
    return answers, answer_ids


def _qlora_pair_name(path: Path, systems: list[str]) -> tuple[str, str, str]:
    stem = path.stem
    suffix = "-reviewer-threeclass"
    if not stem.endswith(suffix):
        raise JudgmentFileError(f"{path}: expected a name like <A>-vs-<B>-<judge>{suffix}.jsonl.")
    stem = stem[: -len(suffix)]
    matches = [
        (a, b, stem[len(a) + 4 + len(b) + 1 :])
        for a in systems
        if stem.startswith(a + "-vs-")
        for b in systems
        if stem[len(a) + 4 :].startswith(b + "-") and b != a
    ]
    if not matches:
        raise JudgmentFileError(
            f"{path}: the name does not start with two systems of generations/ (<A>-vs-<B>-<judge>); "
            f"known systems: {', '.join(sorted(systems))}."
        )
    return max(matches, key=lambda m: len(m[0]) + len(m[1]))  # the longest names: "a-b" before "a"


def _qlora_judgment(study: Study, path: Path, number: int, row: dict, first: str, second: str) -> None:
    qid = str(_field(row, "question_id", path, number, (int, str)))
    score = _field(row, "score", path, number, (int, float))
    if score not in QLORA_SCORES:
        raise JudgmentFileError(f"{path}:{number}: score {score!r} is not one of 1, 2, 3 or -1.")
    for system in (first, second):
        if (system, qid) not in study.answers:
            raise JudgmentFileError(
                f"{path}:{number}: no answer of {system} to question {qid} in generations/."
            )
    for system, key in ((first, "answer1_id"), (second, "answer2_id")):
        known = study.answer_ids.get((system, qid))
        if known is not None and row.get(key) not in (None, known):
            raise JudgmentFileError(
                f"{path}:{number}: {key} {row.get(key)!r} is not the answer of {system} to question {qid} "
                f"({known!r} in generations/); the judgment was made on another text."
            )
    text = row.get("text") if isinstance(row.get("text"), str) else ""
    order = StudyOrder(first, second, QLORA_SCORES[int(score)], text, f"{path}:{number}")
    study.add_order(qid, order)


# --- mtbench ------------------------------------------------------------------------------------------

MT_WINNERS = {"model_1", "model_2", "tie", "error"}


def _mtbench(root: Path) -> Study:
    if root.is_file():
        judgment_files, bench = [root], root.parent.parent
    else:
        bench = root
        judgment_files = sorted((root / "model_judgment").glob("*pair*.jsonl"))
        if not judgment_files:
            raise JudgmentFileError(f"{root / 'model_judgment'}: no pairwise judgment files (*pair*.jsonl).")
    questions_path = bench / "question.jsonl"
    if not questions_path.is_file():
        raise JudgmentFileError(f"{questions_path}: missing; mtbench needs the bench's question file.")
    turns: dict[str, list[str]] = {}
    categories = {}
    for number, row in _jsonl(questions_path):
        qid = str(_field(row, "question_id", questions_path, number, (int, str)))
        turn_texts = _field(row, "turns", questions_path, number, list)
        if not turn_texts or not all(isinstance(t, str) and t.strip() for t in turn_texts):
            raise JudgmentFileError(f"{questions_path}:{number}: 'turns' must be a list of non-empty texts.")
        turns[qid] = turn_texts
        categories[qid] = str(row.get("category", ""))
    replies = _mtbench_answers(bench / "model_answer")
    study = Study(judge="")
    for path in judgment_files:
        for number, row in _jsonl(path):
            _mtbench_judgment(study, path, number, row, turns, categories, replies)
    if not study.units:
        raise JudgmentFileError(f"{judgment_files[0]}: no pairwise judgments found.")
    return study


def _mtbench_answers(folder: Path) -> dict[tuple[str, str], list[str]]:
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if not files:
        raise JudgmentFileError(f"{folder}: no answer files (<model>.jsonl) found.")
    replies = {}
    for path in files:
        for number, row in _jsonl(path):
            qid = str(_field(row, "question_id", path, number, (int, str)))
            choices = _field(row, "choices", path, number, list)
            reply_turns = choices[0].get("turns") if choices and isinstance(choices[0], dict) else None
            if not isinstance(reply_turns, list) or not all(isinstance(t, str) for t in reply_turns):
                raise JudgmentFileError(f"{path}:{number}: 'choices[0].turns' must be a list of texts.")
            replies[path.stem, qid] = reply_turns  # FastChat names a model by its answer file
    return replies


def _mtbench_judgment(study, path, number, row, turns, categories, replies) -> None:
    qid = str(_field(row, "question_id", path, number, (int, str)))
    m1, m2 = _field(row, "model_1", path, number), _field(row, "model_2", path, number)
    turn = _field(row, "turn", path, number, int) if "turn" in row else 1
    if m1 == m2:
        raise JudgmentFileError(
            f"{path}:{number}: model_1 and model_2 are both {m1!r}; a battle needs two models."
        )
    judge = row.get("judge")
    judge_model = judge[0] if isinstance(judge, list) and judge and isinstance(judge[0], str) else None
    if judge_model is None:
        raise JudgmentFileError(f"{path}:{number}: field 'judge' must be [judge model, prompt name].")
    if study.judge and judge_model != study.judge:
        raise JudgmentFileError(
            f"{path}:{number}: judged by {judge_model!r}, earlier lines by {study.judge!r}; import one judge at a time."
        )
    study.judge = judge_model
    if qid not in turns:
        raise JudgmentFileError(f"{path}:{number}: question_id {qid} is not in question.jsonl.")
    if turn not in (1, 2) or turn > len(turns[qid]):
        raise JudgmentFileError(f"{path}:{number}: turn {turn} does not exist for question {qid}.")
    key = qid if turn == 1 else f"{qid}-turn2"
    for model in (m1, m2):
        reply = replies.get((model, qid))
        if reply is None or len(reply) < turn or not all(t.strip() for t in reply[:turn]):
            raise JudgmentFileError(
                f"{path}:{number}: no answer of {model} to question {qid}, turn {turn}, in model_answer/."
            )
        study.answers[model, key] = _conversation(reply[:turn]) if turn == 2 else reply[0]
    study.questions[key] = StudyQuestion(
        key, turns[qid][0] if turn == 1 else _conversation(turns[qid][:2], "User"), categories[qid]
    )
    shown_first = {"model_1": "A", "model_2": "B", "tie": "tie", "error": None}
    swapped_first = {"model_2": "A", "model_1": "B", "tie": "tie", "error": None}
    for name, first, second, mapping in (("g1", m1, m2, shown_first), ("g2", m2, m1, swapped_first)):
        winner = _field(row, f"{name}_winner", path, number)
        if winner not in MT_WINNERS:
            raise JudgmentFileError(
                f"{path}:{number}: {name}_winner {winner!r} is not model_1, model_2, tie or error."
            )
        text = row.get(f"{name}_judgment") if isinstance(row.get(f"{name}_judgment"), str) else ""
        study.add_order(key, StudyOrder(first, second, mapping[winner], text, f"{path}:{number}"))


def _conversation(texts: list[str], speaker: str = "Assistant") -> str:
    return "\n\n".join(f"{speaker} (turn {i}):\n{t}" for i, t in enumerate(texts, start=1))
