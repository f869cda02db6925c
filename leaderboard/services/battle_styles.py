"""Each battle's contenders, prompt and both answers' style counts, kept in the worker process.

Style control needs the answers' styles per battle, and joining a million verdicts to their battles and
answers on every recompute was most of a style-controlled leaderboard's time (figures: docs/benchmarks.md).
A battle does not change once created: its answers cannot be replaced (uploads refuse
it, and the admin shows battles and answers' style counts read-only) and its contenders are fixed. So a
process reads each battle once, keeps it in sorted numpy arrays, and later recomputes read only the battles
it has not seen yet (new ones, or all of them after a restart). Deleted battles simply stop being asked for;
a cached battle whose contenders no longer match its verdicts' (a restored database reusing ids) is read
again (see `verdict_styles_aggregate`). The cache is per database, so tests and benchmarks that
switch databases do not mix their battles.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from django.db import connection

from arena.models import Battle, Output
from leaderboard.services.sql_columns import sql_columns
from leaderboard.services.verdict_sql import column_of, table_of

STYLE_FIELDS = ("n_chars", "n_headers", "n_list_items", "n_bold")
# Battles asked for by id at a time (a portable IN list; SQLite allows 32,766 parameters).
_CHUNK = 10_000


@dataclass(frozen=True)
class BattleTable:
    """Parallel arrays sorted by battle id; `style_a` / `style_b` are rows × 4 counts (STYLE_FIELDS)."""

    ids: np.ndarray
    a: np.ndarray
    b: np.ndarray
    prompt: np.ndarray
    style_a: np.ndarray
    style_b: np.ndarray

    def positions(self, battle_ids: np.ndarray) -> np.ndarray:
        """Where each id sits in the table; every id must be in it."""
        return np.searchsorted(self.ids, battle_ids)

    def missing(self, battle_ids: np.ndarray) -> np.ndarray:
        where = np.minimum(np.searchsorted(self.ids, battle_ids), max(len(self.ids) - 1, 0))
        known = (self.ids[where] == battle_ids) if len(self.ids) else np.zeros(len(battle_ids), bool)
        return battle_ids[~known]


_EMPTY = BattleTable(
    *(np.zeros(0, np.int64) for _ in range(4)), *(np.zeros((0, 4), np.int64) for _ in range(2))
)
_tables: dict[tuple, BattleTable] = {}
_lock = threading.Lock()


def _key() -> tuple:
    settings = connection.settings_dict
    return (connection.vendor, settings.get("HOST"), settings.get("PORT"), settings["NAME"])


def battle_table(battle_ids: np.ndarray, *, reread: np.ndarray | None = None) -> BattleTable:
    """A table holding at least `battle_ids` (unique, any order), read from the database where needed;
    `reread` names cached battles found out of date, read again and replaced."""
    key = _key()
    with _lock:
        table = _tables.get(key, _EMPTY)
        if reread is not None and len(reread):
            table = _without(table, reread)
        missing = table.missing(battle_ids)
        if len(missing):
            table = _merged(table, _read(None if not len(table.ids) else missing))
        _tables[key] = table
        return table


def _without(table: BattleTable, ids: np.ndarray) -> BattleTable:
    keep = ~np.isin(table.ids, ids)
    return BattleTable(
        *(getattr(table, name)[keep] for name in ("ids", "a", "b", "prompt", "style_a", "style_b"))
    )


def battles_preload() -> int:
    """Read every battle into this process's table, if it holds none yet; returns how many it holds.

    Workers that serve the "ratings" queue call it when they start (leaderboard/tasks.py), so their first
    style-controlled recompute does not pay for reading every battle on top of its own work.
    """
    key = _key()
    with _lock:
        if key not in _tables:
            _tables[key] = _merged(_EMPTY, _read(None))  # sorted by id, as `positions` needs
        return len(_tables[key].ids)


def _read(ids: np.ndarray | None) -> BattleTable:
    """The given battles (all of them when `ids` is None), through `sql_columns`."""
    if ids is None:
        return _table_of(_battles_sql(0), [])
    parts = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK].tolist()
        parts.append(_table_of(_battles_sql(len(chunk)), chunk))
    return _concatenated(parts)


def _battles_sql(n_ids: int) -> str:
    """Each battle's id, contenders, prompt and both answers' style counts, named as `_table_of` reads them;
    of `n_ids` given battles, or of all when 0."""
    styles = ", ".join(
        f"o{side}.{column_of(Output, field)} AS {side}_{field}"
        for side in ("a", "b")
        for field in STYLE_FIELDS
    )
    where = f" WHERE bt.id IN ({', '.join(['%s'] * n_ids)})" if n_ids else ""
    return (
        f"SELECT bt.id AS id, bt.{column_of(Battle, 'contender_a')} AS a, "
        f"bt.{column_of(Battle, 'contender_b')} AS b, bt.{column_of(Battle, 'prompt')} AS prompt, "
        f"{styles} FROM {table_of(Battle)} AS bt "
        f"JOIN {table_of(Output)} AS oa ON oa.id = bt.{column_of(Battle, 'output_a')} "
        f"JOIN {table_of(Output)} AS ob ON ob.id = bt.{column_of(Battle, 'output_b')}{where}"
    )


def _table_of(sql: str, params: list) -> BattleTable:
    names = ["id", "a", "b", "prompt"] + [f"{side}_{field}" for side in ("a", "b") for field in STYLE_FIELDS]
    columns = sql_columns(sql, params, {name: "int" for name in names})
    return BattleTable(
        ids=columns["id"],
        a=columns["a"],
        b=columns["b"],
        prompt=columns["prompt"],
        style_a=_styles(columns, "a"),
        style_b=_styles(columns, "b"),
    )


def _styles(columns: dict[str, np.ndarray], side: str) -> np.ndarray:
    """One side's style counts, rows × STYLE_FIELDS."""
    return np.column_stack([columns[f"{side}_{field}"] for field in STYLE_FIELDS]).reshape(
        -1, len(STYLE_FIELDS)
    )


def _concatenated(parts: list[BattleTable]) -> BattleTable:
    if not parts:
        return _EMPTY
    return BattleTable(
        *(np.concatenate([getattr(p, name) for p in parts]) for name in ("ids", "a", "b", "prompt")),
        *(np.concatenate([getattr(p, name) for p in parts]) for name in ("style_a", "style_b")),
    )


def _merged(table: BattleTable, new: BattleTable) -> BattleTable:
    both = _concatenated([table, new])
    order = np.argsort(both.ids, kind="stable")
    return BattleTable(
        ids=both.ids[order],
        a=both.a[order],
        b=both.b[order],
        prompt=both.prompt[order],
        style_a=both.style_a[order],
        style_b=both.style_b[order],
    )
