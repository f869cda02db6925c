"""Grouped verdict rows → one input per leaderboard: source × dimension × category (all, then each one).

Sources are each `Source` row (the people, each LLM judge config, each import) plus the pseudo-source
"judges" pooling every judge's verdicts. Category boards only exist for categories that have verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from arena.models import Source
from leaderboard.models import ALL_CATEGORIES, JUDGES_KEY, Snapshot
from leaderboard.rating import pair_counts_from_scores
from leaderboard.services.aggregation import GroupedRows
from leaderboard.services.fitting import BoardData, StyleData


@dataclass(frozen=True)
class SourceGroup:
    """Sources whose verdicts one leaderboard pools: a single `Source`, or every judge for "judges"."""

    key: str
    kind: str
    name: str
    source_ids: tuple[int, ...]
    source_id: int | None


@dataclass(frozen=True)
class BoardKey:
    source: SourceGroup
    dimension_id: int
    category: str


@dataclass(frozen=True)
class BoardInput:
    key: BoardKey
    data: BoardData


def source_groups(source_ids: set[int]) -> list[SourceGroup]:
    """Each source with verdicts, then "judges" pooling the judges; a real source keyed "judges" is skipped,
    because the key is reserved for the pool (it would be ambiguous in URLs)."""
    sources = [
        s for s in Source.objects.filter(id__in=source_ids).order_by("kind", "key") if s.key != JUDGES_KEY
    ]
    groups = [SourceGroup(s.key, s.kind, s.name, (s.id,), s.id) for s in sources]
    judges = tuple(s.id for s in sources if s.kind == Source.Kind.JUDGE)
    if judges:
        groups.append(SourceGroup(JUDGES_KEY, Snapshot.SourceKind.JUDGES, "All LLM judges", judges, None))
    return groups


def boards_assemble(
    pairs: GroupedRows, styles: GroupedRows | None, slugs: dict[int, str]
) -> Iterator[BoardInput]:
    """Yield every leaderboard's input, source by source, dimension by dimension, "all" before categories."""
    pair_rows = _RowIndex(pairs)
    style_rows = None if styles is None else _RowIndex(styles)
    for group in source_groups(set(pairs.source.tolist())):
        for dimension_id in pair_rows.dimensions(group.source_ids):
            board_rows = _by_category(pairs, styles, pair_rows, style_rows, group, dimension_id)
            for category, in_pairs, in_styles in board_rows:
                key = BoardKey(group, dimension_id, category)
                yield BoardInput(key, board_data(pairs, in_pairs, styles, in_styles, slugs))


class _RowIndex:
    """The rows of grouped verdicts by (source, dimension, category code), found by one sort: each board
    takes its rows by index instead of scanning every row with a mask (180 boards × a million style rows).
    Rows come back in their original order, so a board's arrays are exactly what a mask would select."""

    def __init__(self, rows: GroupedRows) -> None:
        self._rows: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        if not len(rows):
            return
        order = np.lexsort((rows.category, rows.dimension, rows.source))  # stable
        keys = np.column_stack([rows.source[order], rows.dimension[order], rows.category[order]])
        starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            source, dimension, category = keys[start].tolist()
            self._rows.setdefault((source, dimension), {})[category] = order[start:end]

    def dimensions(self, sources: tuple[int, ...]) -> list[int]:
        """The dimensions some of `sources` have rows on, ascending."""
        return sorted({dimension for source, dimension in self._rows if source in sources})

    def categories(self, sources: tuple[int, ...], dimension: int) -> list[int]:
        """The category codes some of `sources` have rows in on `dimension`, ascending."""
        return sorted({code for s in sources for code in self._rows.get((s, dimension), {})})

    def rows(self, sources: tuple[int, ...], dimension: int, category: int | None = None) -> np.ndarray:
        """Indices, ascending, of the rows of `sources` on `dimension`, in one category code or (None) all."""
        parts = [
            rows
            for source in sources
            for code, rows in self._rows.get((source, dimension), {}).items()
            if category is None or code == category
        ]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.intp)


def _by_category(
    pairs: GroupedRows,
    styles: GroupedRows | None,
    pair_rows: _RowIndex,
    style_rows: _RowIndex | None,
    group: SourceGroup,
    dimension: int,
) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    sources = group.source_ids

    def style_in(code: int | None) -> np.ndarray | None:
        return None if style_rows is None else style_rows.rows(sources, dimension, code)

    yield ALL_CATEGORIES, pair_rows.rows(sources, dimension), style_in(None)
    for code in pair_rows.categories(sources, dimension):
        name = pairs.categories[code]
        if name == ALL_CATEGORIES:
            continue  # uncategorised prompts count in "all" only
        style_code = styles.categories.index(name) if styles is not None and name in styles.categories else -1
        yield name, pair_rows.rows(sources, dimension, code), style_in(style_code)


def board_data(
    pairs: GroupedRows,
    rows: np.ndarray,
    styles: GroupedRows | None,
    style_rows: np.ndarray | None,
    slugs: dict[int, str],
) -> BoardData:
    """The pair counts (and style groups) of the rows at indices `rows` (`style_rows`); contenders ordered
    by id."""
    pair_a, pair_b = pairs.a[rows], pairs.b[rows]
    ids = np.unique(np.concatenate([pair_a, pair_b]))
    models = tuple(slugs[i] for i in ids.tolist())
    counts = pair_counts_from_scores(
        models,
        _positions(ids, pair_a),
        _positions(ids, pair_b),
        pairs.score[rows],
        weights=pairs.count[rows].astype(float),
    )
    style = None
    if styles is not None and style_rows is not None:
        style_a, style_b = _positions(ids, styles.a[style_rows]), _positions(ids, styles.b[style_rows])
        # Both queries read one snapshot of the data; this guard keeps indices right even if they did not.
        on_board = (style_a >= 0) & (style_b >= 0)
        if not on_board.all():
            style_rows, style_a, style_b = style_rows[on_board], style_a[on_board], style_b[on_board]
        style = StyleData(
            a=style_a,
            b=style_b,
            score=styles.score[style_rows],
            weight=styles.count[style_rows].astype(float),
            battles=styles.battles[style_rows].astype(float),
            style_a=styles.style_a[style_rows],
            style_b=styles.style_b[style_rows],
        )
    return BoardData(tuple(ids.tolist()), counts, int(pairs.count[rows].sum()), style)


# Contender ids up to this many are looked up in a table (one gather per row); larger ones by binary search.
_LOOKUP_LIMIT = 1_000_000


def _positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The index of each of `values` in the sorted `ids`, -1 for values not among them."""
    if not len(ids):
        return np.full(len(values), -1, dtype=np.intp)
    largest = max(int(ids[-1]), int(values.max(initial=0)))
    if largest < _LOOKUP_LIMIT and values.min(initial=0) >= 0:
        table = np.full(largest + 1, -1, dtype=np.intp)
        table[ids] = np.arange(len(ids))
        return table[values]
    at = np.minimum(np.searchsorted(ids, values), len(ids) - 1)
    return np.where(ids[at] == values, at, -1)
