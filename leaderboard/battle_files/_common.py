"""What every battle-file reader shares: the error type, the per-file columns, JSON and label helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from leaderboard.rating import BattleSequence


class BattleFileError(ValueError):
    """A battle file cannot be read as the format named; the message says what, where and what to do."""


@dataclass(frozen=True)
class ReadOptions:
    """Choices some formats offer: ``unparsed`` (qlora: ``drop`` score -1 judgments, or count them as a
    ``tie``) and ``turns`` (mtbench: keep these turns only; ``None`` keeps every turn)."""

    unparsed: str = "drop"
    turns: frozenset[int] | None = None


DEFAULT_READ_OPTIONS = ReadOptions()


@dataclass(frozen=True)
class ParsedBattles:
    """All battles of the files, in file order then record order, and how many records were skipped
    on purpose (AlpacaEval ``null`` preferences, unparsed QLoRA judgments, MT-bench ``error`` games), with
    one line per reason in ``skip_notes``; callers should report them."""

    sequence: BattleSequence
    skipped: int
    files: tuple[str, ...]
    # Per file, aligned with its slice of ``sequence``: where each battle came from, for importers.
    records: tuple[FileRecords, ...] = ()
    skip_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRecords:
    """One file's battles as read: ``numbers[k]`` is battle k's record or line number (``unit``);
    ``labels[k]`` the raw winner label (``None`` per battle for AlpacaEval, whose preferences are scores);
    ``question_ids[k]`` the record's ``question_id`` field or column, ``None`` where absent."""

    path: str
    unit: str
    numbers: Sequence[int]
    labels: Sequence
    question_ids: Sequence

    def where(self, k: int) -> str:
        return f"{self.path}: {self.unit} {self.numbers[k]}"


@dataclass(frozen=True)
class Columns:
    """One file's battles as columns; ``numbers[k]`` is battle k's record or line number in the file."""

    path: str
    unit: str
    numbers: Sequence[int]
    model_a: list
    model_b: list
    score: np.ndarray
    skipped: int = 0
    labels: Sequence | None = None
    question_ids: Sequence | None = None
    # What the skipped records were, e.g. "records with a null preference".
    skip_reason: str = ""

    def where(self, k: int) -> str:
        return f"{self.path}: {self.unit} {self.numbers[k]}"

    def records(self) -> FileRecords:
        absent = [None] * len(self.score)
        return FileRecords(
            self.path,
            self.unit,
            self.numbers,
            absent if self.labels is None else self.labels,
            absent if self.question_ids is None else self.question_ids,
        )


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise BattleFileError(f"{path}: cannot read the file ({error.strerror})") from error


def read_text(path: str | Path, raw: bytes | None = None) -> str:
    """The file as text (its bytes ``raw`` when already read), or a located error for bad UTF-8."""
    raw = read_bytes(path) if raw is None else raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BattleFileError(
            f"{path}: not valid UTF-8 (byte {error.start}: {error.reason}); re-save the file as UTF-8"
        ) from error


def json_records(path: str, text: str, file_format: str) -> tuple[list, str, Sequence[int]]:
    """Records of a JSON list (numbered as "record" 1, 2, ...) or of JSON lines (numbered by "line")."""
    start = text.lstrip()[:1]
    if start == "[":
        records = loads(path, text)
        return records, "record", range(1, len(records) + 1)
    if start == "{":
        return json_lines(path, text)
    if not start:
        return [], "line", []  # empty: holds no battles; an error only if no file has any
    raise BattleFileError(
        f"{path}: not a {file_format} file: expected a JSON list or JSON lines, but it starts with "
        f"{text.lstrip()[:20]!r}. Check the file, or pick the format it is written in."
    )


def json_lines(path: str, text: str) -> tuple[list, str, list[int]]:
    records, numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line.isspace():
            records.append(loads(path, line, number))
            numbers.append(number)
    return records, "line", numbers


def loads(path: str, text: str, line_number: int | None = None) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        line = line_number if line_number is not None else error.lineno
        raise BattleFileError(
            f"{path}: line {line}: invalid JSON ({error.msg}); fix the file or export it again"
        ) from error


def key_columns(records: list, keys: tuple[str, ...], where: Callable[[int], str]) -> list[list]:
    """One list per key; a record that is not an object or lacks a key is located and reported."""
    try:
        return [[record[key] for record in records] for key in keys]
    except (KeyError, TypeError, IndexError):
        for k, record in enumerate(records):
            if not isinstance(record, dict):
                raise BattleFileError(
                    f"{where(k)}: expected a JSON object, found {type(record).__name__}"
                ) from None
            missing = [key for key in keys if key not in record]
            if missing:
                raise BattleFileError(
                    f"{where(k)}: missing key(s) {', '.join(missing)}; each record needs {', '.join(keys)}"
                    f" — is this file in another format?"
                ) from None
        raise


def with_label_scores(columns: Columns, labels: list, table: dict[str, float]) -> Columns:
    """``columns`` with A's score per battle from its winner label; an unknown label is located and reported."""
    try:
        known = set(labels) <= table.keys()
    except TypeError:  # an unhashable label
        known = False
    if not known:
        k = next(k for k, label in enumerate(labels) if type(label) is not str or label not in table)
        expected = ", ".join(map(repr, table))
        raise BattleFileError(
            f"{columns.where(k)}: unknown winner label {labels[k]!r}; expected one of {expected}. "
            f"Fix or remove the record."
        )
    return replace(columns, score=np.fromiter(map(table.__getitem__, labels), float, len(labels)))
