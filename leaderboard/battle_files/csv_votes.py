"""``csv``: columns ``left``, ``right``, ``winner`` in {``left``, ``right``, ``tie``}, in file order (other
columns are ignored; an optional ``question_id`` column is kept for importers)."""

from __future__ import annotations

import csv
import io

import numpy as np

from ._common import BattleFileError, Columns, ReadOptions, with_label_scores

CSV_SCORES = {"left": 1.0, "right": 0.0, "tie": 0.5}
CSV_COLUMNS = ("left", "right", "winner")


def parse_csv(path: str, text: str, options: ReadOptions) -> Columns:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        positions = _csv_positions(path, header)
        left, right, winner, numbers, question_ids = _csv_rows(path, reader, positions, _optional(header))
    except csv.Error as error:
        raise BattleFileError(f"{path}: line {reader.line_num}: malformed CSV ({error})") from error
    columns = Columns(
        path, "line", numbers, left, right, np.empty(0), labels=winner, question_ids=question_ids
    )
    return with_label_scores(columns, winner, CSV_SCORES)


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
