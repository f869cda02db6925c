"""Parsers for battle files, into a neutral :class:`BattleSequence` (model indices and A's score, in order).

Formats, one module each: ``fastchat`` (Chatbot Arena battle dumps), ``csv`` (``left``, ``right``, ``winner``),
``alpaca_eval`` (AlpacaEval annotations), ``qlora`` (the QLoRA paper's GPT-4 pairwise reviews, one file per
ordered pair) and ``mtbench`` (FastChat llm_judge pairwise judgments, both games). A directory given as a path
stands for the files in it that the format reads (sorted by name).

Other fields and columns are ignored. Anything else — an unknown label, a missing key, a file in another
format, invalid JSON, a wrong encoding, a contender battling itself, no battles at all — raises
:class:`BattleFileError` naming the file and the record or line, never a silent tie.

Speed: ``fastchat`` files are decoded straight into typed columns (see ``fastchat.fastchat_columns``), the
other formats record by record; a million-record file is then validated column-wise (names and labels are checked once per distinct
value, self-battles with one vectorised comparison); records are only walked one by one to locate an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from leaderboard.rating import BattleSequence

from ._common import (
    DEFAULT_READ_OPTIONS,
    BattleFileError,
    Columns,
    FileRecords,
    ParsedBattles,
    ReadOptions,
    read_bytes,
    read_text,
)
from .alpaca_eval import parse_alpaca_eval
from .csv_votes import parse_csv
from .fastchat import fastchat_columns, parse_fastchat
from .mtbench import parse_mtbench
from .qlora import parse_qlora, qlora_systems

__all__ = [
    "FORMATS",
    "BattleFileError",
    "FileRecords",
    "ParsedBattles",
    "ReadOptions",
    "qlora_systems",
    "read_battle_files",
]

_PARSERS: dict[str, Callable[[str, str, ReadOptions], Columns]] = {
    "fastchat": parse_fastchat,
    "csv": parse_csv,
    "alpaca_eval": parse_alpaca_eval,
    "qlora": parse_qlora,
    "mtbench": parse_mtbench,
}
FORMATS = tuple(_PARSERS)
# Readers that take a well-formed file's bytes in one pass, or return None to leave it to the careful parser.
_FAST_READERS: dict[str, Callable[[str, bytes, ReadOptions], Columns | None]] = {"fastchat": fastchat_columns}
# Which files of a directory each format reads.
_DIRECTORY_PATTERNS = {
    "fastchat": ("*.json", "*.jsonl"),
    "csv": ("*.csv",),
    "alpaca_eval": ("*.json",),
    "qlora": ("*-vs-*.jsonl",),
    "mtbench": ("*.jsonl",),
}
UNPARSED_CHOICES = ("drop", "tie")


def read_battle_files(
    paths: Sequence[str | Path], file_format: str, options: ReadOptions = DEFAULT_READ_OPTIONS
) -> ParsedBattles:
    """Parse ``paths`` (files or directories, one or more) in ``file_format`` and concatenate their battles in
    the order given.

    Contenders are numbered in name order, so results do not depend on which file named them first.
    """
    if file_format not in _PARSERS:
        raise BattleFileError(f"unknown format {file_format!r}; choose one of {', '.join(_PARSERS)}")
    if options.unparsed not in UNPARSED_CHOICES:
        raise BattleFileError(
            f"unparsed must be one of {', '.join(UNPARSED_CHOICES)}, not {options.unparsed!r}"
        )
    if not paths:
        raise BattleFileError("no battle file given")
    files = tuple(str(path) for path in _expand(paths, file_format))
    parsed = [_parse(path, file_format, options) for path in files]
    skipped = sum(columns.skipped for columns in parsed)
    notes = _skip_notes(parsed)
    if not any(len(columns.score) for columns in parsed):
        note = f" ({'; '.join(notes)})" if notes else ""
        raise BattleFileError(f"no battles found in {', '.join(files)}{note}; nothing to rate")
    records = tuple(columns.records() for columns in parsed)
    return ParsedBattles(_sequence(parsed), skipped, files, records, notes)


def _parse(path: str, file_format: str, options: ReadOptions) -> Columns:
    raw = read_bytes(path)
    fast = _FAST_READERS.get(file_format)
    columns = None if fast is None else fast(path, raw, options)
    return columns if columns is not None else _PARSERS[file_format](path, read_text(path, raw), options)


def _expand(paths: Sequence[str | Path], file_format: str) -> list[Path]:
    """Each directory replaced by the files in it that ``file_format`` reads, sorted by name."""
    expanded = []
    for path in map(Path, paths):
        if not path.is_dir():
            expanded.append(path)
            continue
        found = sorted(
            {f for pattern in _DIRECTORY_PATTERNS[file_format] for f in path.glob(pattern) if f.is_file()}
        )
        if not found:
            patterns = " or ".join(_DIRECTORY_PATTERNS[file_format])
            raise BattleFileError(f"{path}: a directory with no {file_format} files in it ({patterns})")
        expanded.extend(found)
    return expanded


def _skip_notes(parsed: list[Columns]) -> tuple[str, ...]:
    counts: Counter[str] = Counter()
    for columns in parsed:
        if columns.skipped:
            counts[columns.skip_reason] += columns.skipped
    return tuple(f"skipped {count} {reason}" for reason, count in counts.items())


def _sequence(parsed: list[Columns]) -> BattleSequence:
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


def _names(columns: Columns) -> set[str]:
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
        pairs = zip(columns.model_a, columns.model_b, strict=True)
        k = next(k for k, pair in enumerate(pairs) if unstorable[0] in pair)
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


def _refuse_self_battles(columns: Columns, a: np.ndarray, b: np.ndarray) -> None:
    same = np.flatnonzero(a == b)
    if len(same):
        k = int(same[0])
        raise BattleFileError(
            f"{columns.where(k)}: both sides are {columns.model_a[k]!r}; a contender cannot battle itself "
            f"(and a single contender cannot be rated). Remove or fix the record."
        )
