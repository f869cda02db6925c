"""A leaderboard as CSV or JSON: the rows the page's table shows, in its order, at full precision."""

from __future__ import annotations

import csv
import io

from leaderboard.selectors import Board

COLUMNS = (
    "rank_ub",
    "contender",
    "name",
    "rating",
    "ci_low",
    "ci_high",
    "style_rating",
    "style_ci_low",
    "style_ci_high",
    "style_rank_ub",
    "average_win_rate",
    "votes",
    "organization",
    "license",
    "calibrated_rating",
    "calibrated_ci_low",
    "calibrated_ci_high",
)


def board_payload(board: Board) -> dict:
    """The JSON document of a leaderboard (export and read API): what was asked, what was fitted, the rows."""
    query, snapshot, run = board.query, board.snapshot, board.query.run
    return {
        "run": None if run is None else {"id": run.pk, "finished": run.finished, "trigger": run.trigger},
        "dimension": query.dimension.slug,
        "category": query.category,
        "source": query.source_key,
        "min_votes": query.min_votes,
        "sort": query.sort,
        "status": None if snapshot is None else snapshot.status,
        "message": board.message,
        "method": None if snapshot is None else snapshot.method,
        "params": {} if snapshot is None else snapshot.params,
        "n_verdicts": 0 if snapshot is None else snapshot.n_verdicts,
        "n_labelled": 0 if snapshot is None else snapshot.n_labelled,
        "calibration_message": "" if snapshot is None else snapshot.calibration_message,
        "computed": None if snapshot is None else snapshot.computed,
        "hidden_below_min_votes": board.hidden,
        "rows": [row.export() for row in board.rows],
    }


def board_csv(board: Board) -> str:
    """CSV with a header row; empty cells where a value is missing (no interval, no style fit)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in board.rows:
        writer.writerow({k: csv_cell(v) for k, v in row.export().items()})
    return out.getvalue()


def csv_cell(value):
    """Missing values empty; text a spreadsheet would run as a formula (names are user input) quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_filename(board: Board, extension: str) -> str:
    query = board.query
    parts = ["leaderboard", query.source_key, query.dimension.slug, query.category or "all"]
    if query.run is not None:
        parts.append(f"run{query.run.pk}")
    return "-".join(part.replace("/", "_") for part in parts) + f".{extension}"
