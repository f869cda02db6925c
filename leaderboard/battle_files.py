"""Parsers for battle files, into a neutral :class:`BattleSequence` (model indices and A's score, in order).

Formats:
- ``fastchat``: a JSON list, or JSON lines, of objects with ``model_a``, ``model_b`` and ``winner`` in
  {``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``}, in time order (Chatbot Arena's battle dumps);
- ``csv``: columns ``left``, ``right``, ``winner`` in {``left``, ``right``, ``tie``}, in file order;
- ``alpaca_eval``: AlpacaEval annotation JSON lists with ``generator_1``, ``generator_2`` and
  ``preference`` (1: output_1 preferred, 2: output_2, values between are soft, so generator_1 scores
  ``2 − preference``; the legacy 0 means a draw; ``null`` is skipped and counted).

Other fields and columns are ignored. Anything else — an unknown label, a missing key, a file in another
format, invalid JSON, a wrong encoding, a contender battling itself, no battles at all — raises
:class:`BattleFileError` naming the file and the record or line, never a silent tie.

Speed: a million-record file is validated column-wise (names and labels are checked once per distinct
value, self-battles with one vectorised comparison); records are only walked one by one to locate an error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from leaderboard.rating import BattleSequence

FASTCHAT_SCORES = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
CSV_SCORES = {"left": 1.0, "right": 0.0, "tie": 0.5}
FASTCHAT_KEYS = ("model_a", "model_b", "winner")
CSV_COLUMNS = ("left", "right", "winner")
ALPACA_KEYS = ("generator_1", "generator_2", "preference")


class BattleFileError(ValueError):
    """A battle file cannot be read as the format named; the message says what, where and what to do."""


@dataclass(frozen=True)
class ParsedBattles:
    """All battles of the files, in file order then record order, and how many records were skipped
    on purpose (AlpacaEval ``null`` preferences); callers should report a non-zero ``skipped``."""

    sequence: BattleSequence
    skipped: int
    files: tuple[str, ...]
    # Per file, aligned with its slice of ``sequence``: where each battle came from, for importers.
    records: tuple[FileRecords, ...] = ()


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
class _Columns:
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


def read_battle_files(paths: Sequence[str | Path], file_format: str) -> ParsedBattles:
    """Parse ``paths`` (one or more) in ``file_format`` and concatenate their battles in the order given.

    Contenders are numbered in name order, so results do not depend on which file named them first.
    """
    if file_format not in _PARSERS:
        raise BattleFileError(f"unknown format {file_format!r}; choose one of {', '.join(_PARSERS)}")
    if not paths:
        raise BattleFileError("no battle file given")
    parsed = [_PARSERS[file_format](str(path), _read_text(path)) for path in paths]
    files = tuple(str(path) for path in paths)
    skipped = sum(columns.skipped for columns in parsed)
    if not any(len(columns.score) for columns in parsed):
        note = f" ({skipped} records skipped as null preferences)" if skipped else ""
        raise BattleFileError(f"no battles found in {', '.join(files)}{note}; nothing to rate")
    return ParsedBattles(_sequence(parsed), skipped, files, tuple(columns.records() for columns in parsed))


def _sequence(parsed: list[_Columns]) -> BattleSequence:
    names = sorted(set().union(*(_names(columns) for columns in parsed)))
    index = {name: position for position, name in enumerate(names)}
    a_parts, b_parts = [], []
    for columns in parsed:
        a = np.fromiter(map(index.__getitem__, columns.model_a), np.intp, len(columns.model_a))
        b = np.fromiter(map(index.__getitem__, columns.model_b), np.intp, len(columns.model_b))
        _refuse_self_battles(columns, a, b)
        a_parts.append(a)
        b_parts.append(b)
    score = np.concatenate([columns.score for columns in parsed])
    return BattleSequence(tuple(names), np.concatenate(a_parts), np.concatenate(b_parts), score)


def _names(columns: _Columns) -> set[str]:
    """Distinct contender names of one file, each checked to be a non-empty string."""
    try:
        names = set(columns.model_a) | set(columns.model_b)
    except TypeError:  # an unhashable value (a list, an object) in a name field
        names = None
    if names is None or not all(type(name) is str and name for name in names):
        k = next(
            k
            for k, pair in enumerate(zip(columns.model_a, columns.model_b, strict=True))
            if not _good_names(*pair)
        )
        found = f"{columns.model_a[k]!r} and {columns.model_b[k]!r}"
        raise BattleFileError(f"{columns.where(k)}: model names must be non-empty strings, found {found}")
    unstorable = [name for name in names if not _storable_text(name)]
    if unstorable:
        k = next(
            k
            for k, pair in enumerate(zip(columns.model_a, columns.model_b, strict=True))
            if unstorable[0] in pair
        )
        raise BattleFileError(
            f"{columns.where(k)}: model name {unstorable[0]!r} contains a NUL byte or a lone surrogate "
            "(not text a database can store); fix the name"
        )
    return names


def _storable_text(text: str) -> bool:
    """No NUL byte and no lone surrogate: text PostgreSQL (and any UTF-8 writer) can store."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _good_names(model_a: object, model_b: object) -> bool:
    return type(model_a) is str and type(model_b) is str and bool(model_a) and bool(model_b)


def _refuse_self_battles(columns: _Columns, a: np.ndarray, b: np.ndarray) -> None:
    same = np.flatnonzero(a == b)
    if len(same):
        k = int(same[0])
        raise BattleFileError(
            f"{columns.where(k)}: both sides are {columns.model_a[k]!r}; a contender cannot battle itself "
            f"(and a single contender cannot be rated). Remove or fix the record."
        )


def _read_text(path: str | Path) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise BattleFileError(f"{path}: cannot read the file ({error.strerror})") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BattleFileError(
            f"{path}: not valid UTF-8 (byte {error.start}: {error.reason}); re-save the file as UTF-8"
        ) from error


# --- fastchat and alpaca_eval: JSON ---------------------------------------------------------------------


def _parse_fastchat(path: str, text: str) -> _Columns:
    records, unit, numbers = _json_records(path, text, "fastchat")
    model_a, model_b, winner = _key_columns(records, FASTCHAT_KEYS, lambda k: f"{path}: {unit} {numbers[k]}")
    question_ids = [record.get("question_id") for record in records]
    columns = _Columns(
        path, unit, numbers, model_a, model_b, np.empty(0), labels=winner, question_ids=question_ids
    )
    return _with_label_scores(columns, winner, FASTCHAT_SCORES)


def _parse_alpaca_eval(path: str, text: str) -> _Columns:
    records, unit, numbers = _json_records(path, text, "alpaca_eval")
    if unit != "record":
        raise BattleFileError(f"{path}: AlpacaEval annotations are one JSON list, not JSON lines")
    first, second, preference = _key_columns(records, ALPACA_KEYS, lambda k: f"{path}: record {numbers[k]}")
    kept = [k for k, value in enumerate(preference) if value is not None]
    scores = [_alpaca_score(preference[k], f"{path}: record {numbers[k]}") for k in kept]
    return _Columns(
        path,
        unit,
        [numbers[k] for k in kept],
        [first[k] for k in kept],
        [second[k] for k in kept],
        np.array(scores, dtype=float),
        skipped=len(preference) - len(kept),
    )


def _alpaca_score(preference: object, where: str) -> float:
    """generator_1's score: ``2 − preference`` for a preference in [1, 2]; the legacy 0 is a draw."""
    # bool is an int subclass, but true/false are not preferences.
    if isinstance(preference, int | float) and not isinstance(preference, bool):
        if preference == 0:
            return 0.5
        if 1 <= preference <= 2:
            return 2.0 - float(preference)
    raise BattleFileError(
        f"{where}: preference {preference!r} is not a number in [1, 2] (nor null to skip, nor 0 for a draw)"
    )


def _json_records(path: str, text: str, file_format: str) -> tuple[list, str, Sequence[int]]:
    """Records of a JSON list (numbered as "record" 1, 2, ...) or of JSON lines (numbered by "line")."""
    start = text.lstrip()[:1]
    if start == "[":
        records = _loads(path, text)
        return records, "record", range(1, len(records) + 1)
    if start == "{":
        return _json_lines(path, text)
    if not start:
        return [], "line", []  # empty: holds no battles; an error only if no file has any
    raise BattleFileError(
        f"{path}: not a {file_format} file: expected a JSON list or JSON lines, but it starts with "
        f"{text.lstrip()[:20]!r}. Check the file, or pick the format it is written in."
    )


def _json_lines(path: str, text: str) -> tuple[list, str, list[int]]:
    records, numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line.isspace():
            records.append(_loads(path, line, number))
            numbers.append(number)
    return records, "line", numbers


def _loads(path: str, text: str, line_number: int | None = None) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        line = line_number if line_number is not None else error.lineno
        raise BattleFileError(
            f"{path}: line {line}: invalid JSON ({error.msg}); fix the file or export it again"
        ) from error


def _key_columns(records: list, keys: tuple[str, ...], where: Callable[[int], str]) -> list[list]:
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


# --- csv ------------------------------------------------------------------------------------------------


def _parse_csv(path: str, text: str) -> _Columns:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        positions = _csv_positions(path, header)
        left, right, winner, numbers, question_ids = _csv_rows(path, reader, positions, _optional(header))
    except csv.Error as error:
        raise BattleFileError(f"{path}: line {reader.line_num}: malformed CSV ({error})") from error
    columns = _Columns(
        path, "line", numbers, left, right, np.empty(0), labels=winner, question_ids=question_ids
    )
    return _with_label_scores(columns, winner, CSV_SCORES)


def _optional(header: list[str]) -> int | None:
    """Position of the optional ``question_id`` column, if the header has one."""
    return header.index("question_id") if "question_id" in header else None


def _csv_positions(path: str, header: list[str] | None) -> tuple[int, ...]:
    if not header:
        raise BattleFileError(f"{path}: empty file; a CSV battle file starts with a header row")
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        shown = ", ".join(header[:6]) + (", ..." if len(header) > 6 else "")
        raise BattleFileError(
            f"{path}: line 1: missing CSV column(s) {', '.join(missing)} (the header has {shown}); "
            f"a CSV battle file needs columns {', '.join(CSV_COLUMNS)} — is this file in another format?"
        )
    return tuple(header.index(column) for column in CSV_COLUMNS)


def _csv_rows(
    path: str, reader, positions: tuple[int, ...], question_position: int | None
) -> tuple[list, list, list, list[int], list]:
    left, right, winner, numbers, question_ids = [], [], [], [], []
    needed = max(positions) + 1
    for row in reader:
        if not row:
            continue  # a blank line
        if len(row) < needed:
            raise BattleFileError(
                f"{path}: line {reader.line_num}: only {len(row)} fields, but the header puts "
                f"{', '.join(CSV_COLUMNS)} within the first {needed}; fix or remove the line"
            )
        left.append(row[positions[0]])
        right.append(row[positions[1]])
        winner.append(row[positions[2]])
        numbers.append(reader.line_num)
        has_question = question_position is not None and question_position < len(row)
        question_ids.append(row[question_position] or None if has_question else None)
    return left, right, winner, numbers, question_ids


# --- shared ---------------------------------------------------------------------------------------------


def _with_label_scores(columns: _Columns, labels: list, table: dict[str, float]) -> _Columns:
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


_PARSERS: dict[str, Callable[[str, str], _Columns]] = {
    "fastchat": _parse_fastchat,
    "csv": _parse_csv,
    "alpaca_eval": _parse_alpaca_eval,
}
FORMATS = tuple(_PARSERS)
