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
    for group in source_groups(set(pairs.source.tolist())):
        in_source = np.isin(pairs.source, group.source_ids)
        style_source = None if styles is None else np.isin(styles.source, group.source_ids)
        for dimension_id in np.unique(pairs.dimension[in_source]).tolist():
            in_board = in_source & (pairs.dimension == dimension_id)
            style_board = None if styles is None else style_source & (styles.dimension == dimension_id)
            for category, pair_mask, style_mask in _by_category(pairs, in_board, styles, style_board):
                key = BoardKey(group, dimension_id, category)
                yield BoardInput(key, board_data(pairs, pair_mask, styles, style_mask, slugs))


def _by_category(
    pairs: GroupedRows, mask: np.ndarray, styles: GroupedRows | None, style_mask: np.ndarray | None
) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    yield ALL_CATEGORIES, mask, style_mask
    for code in np.unique(pairs.category[mask]).tolist():
        name = pairs.categories[code]
        if name == ALL_CATEGORIES:
            continue  # uncategorised prompts count in "all" only
        style_in = None
        if styles is not None and style_mask is not None:
            style_code = styles.categories.index(name) if name in styles.categories else -1
            style_in = style_mask & (styles.category == style_code)
        yield name, mask & (pairs.category == code), style_in


def board_data(
    pairs: GroupedRows,
    mask: np.ndarray,
    styles: GroupedRows | None,
    style_mask: np.ndarray | None,
    slugs: dict[int, str],
) -> BoardData:
    """The pair counts (and style groups) of the rows under `mask`; contenders ordered by id."""
    ids = np.unique(np.concatenate([pairs.a[mask], pairs.b[mask]]))
    models = tuple(slugs[i] for i in ids.tolist())
    counts = pair_counts_from_scores(
        models,
        np.searchsorted(ids, pairs.a[mask]),
        np.searchsorted(ids, pairs.b[mask]),
        pairs.score[mask],
        weights=pairs.count[mask].astype(float),
    )
    style = None
    if styles is not None and style_mask is not None:
        # Both queries read one snapshot of the data; this guard keeps indices right even if they did not.
        style_mask = style_mask & np.isin(styles.a, ids) & np.isin(styles.b, ids)
        style = StyleData(
            a=np.searchsorted(ids, styles.a[style_mask]),
            b=np.searchsorted(ids, styles.b[style_mask]),
            score=styles.score[style_mask],
            weight=styles.count[style_mask].astype(float),
            battles=styles.battles[style_mask].astype(float),
            style_a=styles.style_a[style_mask],
            style_b=styles.style_b[style_mask],
        )
    return BoardData(tuple(ids.tolist()), counts, int(pairs.count[mask].sum()), style)
