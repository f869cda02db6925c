"""Verdicts → grouped rows, in SQL: the only place a recompute reads the verdict table.

Fits never see single verdicts: the database groups them by (source, dimension, category, contender A,
contender B, outcome) and returns a count and a sum of scores per group, so the work after the query grows
with the number of contenders, not of votes. Soft verdicts (outcome NULL) form one group per pair whose
SUM(score) is exact: it is all Bradley–Terry needs (see `leaderboard.rating.counts`).

Left out, always: verdicts staff excluded, verdicts involving a contender that is not approved, and
dimensions that are not active.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db.models import Count, Max, Q, QuerySet, Sum

from arena.models import Contender, Dimension, Prompt, Source, Verdict
from leaderboard.services.battle_styles import STYLE_FIELDS, battle_table  # noqa: F401  (re-exported)
from leaderboard.services.query_arrays import query_arrays

# Outcome codes used in the arrays below; NULL (a soft verdict) gets its own code.
OUTCOMES = ("a", "b", "tie", "both_bad", None)
OUTCOME_CODE = {outcome: code for code, outcome in enumerate(OUTCOMES)}
# A's score per hard outcome code; soft groups use SUM(score) / COUNT instead.
HARD_SCORE = np.array([1.0, 0.0, 0.5, 0.5, np.nan])


@dataclass(frozen=True)
class GroupedRows:
    """One row per group, as parallel arrays. `category` holds codes into `categories` ("" = none).

    `count` is the number of verdicts, `total` their SUM(score) and `score` A's mean score in the group
    (exact for hard outcomes, total / count for soft ones); for style rows, `style_a` / `style_b` are the
    answers' counts (rows × 4) and `battles` the number of battles in each row.
    """

    source: np.ndarray
    dimension: np.ndarray
    category: np.ndarray
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    count: np.ndarray
    total: np.ndarray
    categories: tuple[str, ...]
    outcome: np.ndarray | None = None
    style_a: np.ndarray | None = None
    style_b: np.ndarray | None = None
    battles: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.count)


def verdicts_counted() -> QuerySet[Verdict]:
    """The verdicts ratings count: not excluded, both contenders approved, on an active dimension.

    Approved contenders and active dimensions are few, so they are passed as id lists: PostgreSQL hashes
    them, which costs less per verdict row than joining both tables (0.5 s instead of 0.8 s on 1M rows).
    """
    approved = list(Contender.objects.filter(status=Contender.Status.APPROVED).values_list("id", flat=True))
    active = list(Dimension.objects.filter(is_active=True).values_list("id", flat=True))
    return Verdict.objects.filter(
        excluded=False,
        contender_a_id__in=approved,
        contender_b_id__in=approved,
        dimension_id__in=active,
    )


def verdicts_scoped(
    *, source_ids: list[int] | None = None, dimension_ids: list[int] | None = None
) -> QuerySet[Verdict]:
    verdicts = verdicts_counted()
    if source_ids is not None:
        verdicts = verdicts.filter(source_id__in=source_ids)
    if dimension_ids is not None:
        verdicts = verdicts.filter(dimension_id__in=dimension_ids)
    return verdicts


def categories_exist() -> bool:
    """Whether any prompt has a category; without one, the join to prompts is skipped."""
    return Prompt.objects.exclude(category="").exists()


def verdict_pairs_aggregate(
    *, source_ids: list[int] | None = None, dimension_ids: list[int] | None = None, by_category: bool = True
) -> GroupedRows:
    """``GROUP BY source, dimension, [category,] contender_a, contender_b, outcome`` with COUNT and SUM(score)."""
    keys = ["source_id", "dimension_id", "contender_a_id", "contender_b_id", "outcome"]
    if by_category:
        keys.insert(2, "battle__prompt__category")
    grouped = (
        verdicts_scoped(source_ids=source_ids, dimension_ids=dimension_ids)
        .values_list(*keys)
        .annotate(n=Count("id"), total=Sum("score"))
        .order_by()
    )
    rows = list(grouped)
    if not by_category:
        rows = [(s, d, "", a, b, o, n, t) for s, d, a, b, o, n, t in rows]
    return _pair_rows(rows)


def _pair_rows(rows: list[tuple]) -> GroupedRows:
    source, dimension, category, a, b, outcome, count, total = _columns(rows, 8)
    codes, categories = _category_codes(category)
    outcome_codes = np.fromiter((OUTCOME_CODE[o] for o in outcome), np.intp, len(outcome))
    counts = np.asarray(count, dtype=np.int64)
    totals = np.asarray(total, dtype=float)
    hard = HARD_SCORE[outcome_codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.isnan(hard), totals / np.maximum(counts, 1), hard)
    return GroupedRows(
        source=np.asarray(source, dtype=np.int64),
        dimension=np.asarray(dimension, dtype=np.int64),
        category=codes,
        a=np.asarray(a, dtype=np.int64),
        b=np.asarray(b, dtype=np.int64),
        score=score,
        count=counts,
        total=totals,
        categories=categories,
        outcome=outcome_codes,
    )


def verdict_styles_aggregate(
    *, source_ids: list[int] | None = None, dimension_ids: list[int] | None = None, by_category: bool = True
) -> GroupedRows:
    """Verdicts summed per (source, dimension, battle), with the battle's contenders, category and both
    answers' style counts, for style control; battles that look alike and got the same verdicts share a row
    (`battles` says how many, see `_merged_alike`).

    The database returns only the counted verdicts' (source, dimension, battle, contenders, score), as numpy
    columns (`query_arrays`); numpy sums them per battle, and the battles' prompts and answer styles come from
    the process's battle table (`battle_styles`), which reads each battle once. Joining every verdict to its
    battle and both answers in SQL instead cost about 2 s per million verdicts on every recompute.
    """
    scoped = verdicts_scoped(source_ids=source_ids, dimension_ids=dimension_ids).order_by()
    fields = {"source": "int", "dimension": "int", "battle": "int", "a": "int", "b": "int", "score": "float"}
    try:
        sql, params = scoped.values_list(
            "source_id", "dimension_id", "battle_id", "contender_a_id", "contender_b_id", "score"
        ).query.sql_with_params()
    except EmptyResultSet:  # no approved contender or no active dimension: nothing to count
        return _merged_alike([np.zeros(0, np.int64)] * 13, np.zeros(0, np.int64), np.zeros(0), ("",))
    columns = query_arrays(sql, params, fields)
    # (source, dimension) as one key, then (battle, that key) as one: ids are far below 2**31.
    boards, board = np.unique(columns["source"] << 32 | columns["dimension"], return_inverse=True)
    n_boards = max(len(boards), 1)
    groups, first, group_of = np.unique(
        columns["battle"] * n_boards + board, return_index=True, return_inverse=True
    )
    count = np.bincount(group_of, minlength=len(groups)).astype(np.int64)
    total = np.bincount(group_of, weights=columns["score"], minlength=len(groups))
    battle_ids, board_of = groups // n_boards, boards[groups % n_boards] if len(boards) else groups
    # `groups` is sorted, so equal battle ids are adjacent: their distinct values without another sort.
    distinct = battle_ids[np.r_[True, battle_ids[1:] != battle_ids[:-1]]] if len(battle_ids) else battle_ids
    table = battle_table(distinct)
    at = table.positions(battle_ids)
    # The verdicts carry their battle's contenders: a cached battle that disagrees was rewritten (staff, a
    # restored database), so it is read again rather than trusted.
    stale = (table.a[at] != columns["a"][first]) | (table.b[at] != columns["b"][first])
    if stale.any():
        table = battle_table(distinct, reread=np.unique(battle_ids[stale]))
        at = table.positions(battle_ids)
    categories, category = _battle_categories(table.prompt[at], by_category)
    keys = [
        board_of >> 32, board_of & 0xFFFFFFFF, category, table.a[at], table.b[at],
        *table.style_a[at].T, *table.style_b[at].T,
        count, total.view(np.int64),  # merged battles must also agree on their verdicts (see below)
    ]  # fmt: skip
    return _merged_alike(keys, count, total, categories)


def _merged_alike(keys: list[np.ndarray], count: np.ndarray, total: np.ndarray, categories) -> GroupedRows:
    """One row per distinct key — source, dimension, category, A, B, 8 style counts, and the battle's verdict
    count and score sum — with `battles` saying how many battles each row holds. Battles that look exactly
    alike *and* got the same verdicts (imported ones: the same placeholder answer, one verdict each) share a
    row. That changes no rating, and the style bootstrap, which redraws battles per row, still sees each
    distinct outcome as its own row, so merging loses no variance; an import of a million battles comes down
    to a few rows per pair.

    Rows are grouped by a 64-bit hash of the key, then checked against the keys themselves; if two different
    keys ever shared a hash, nothing is merged (still exact, only slower to fit).
    """
    digest = np.zeros(len(count), np.uint64)
    with np.errstate(over="ignore"):
        for column in keys:
            digest ^= column.astype(np.uint64, copy=False)
            digest *= np.uint64(0x9E3779B97F4A7C15)
    _, first, group = np.unique(digest, return_index=True, return_inverse=True)
    if len(first) == len(count) or not all(
        np.array_equal(column[first][group], column) for column in keys
    ):  # nothing looks alike: every row stays (the common case at scale)
        first, group = np.arange(len(count)), np.arange(len(count))
    count_of = np.bincount(group, weights=count, minlength=len(first)).astype(np.int64)
    total_of = np.bincount(group, weights=total, minlength=len(first))
    rows = [column[first] for column in keys]
    return GroupedRows(
        source=rows[0],
        dimension=rows[1],
        category=rows[2].astype(np.intp),
        a=rows[3],
        b=rows[4],
        score=total_of / np.maximum(count_of, 1),
        count=count_of,
        total=total_of,
        categories=categories,
        style_a=np.column_stack(rows[5:9]).astype(float),
        style_b=np.column_stack(rows[9:13]).astype(float),
        battles=np.bincount(group, minlength=len(first)).astype(np.int64),
    )


def _battle_categories(prompt_ids: np.ndarray, by_category: bool) -> tuple[tuple[str, ...], np.ndarray]:
    """Codes into the sorted categories for each row's prompt (prompts can be re-categorised: read each time)."""
    if not by_category:
        return ("",), np.zeros(len(prompt_ids), np.intp)
    categories = prompt_categories()
    named = list(Prompt.objects.exclude(category="").values_list("id", "category"))
    ids = np.array([pk for pk, _ in named], np.int64)
    codes = np.array([categories.index(name) for _, name in named], np.intp)
    order = np.argsort(ids)
    ids, codes = ids[order], codes[order]
    where = np.minimum(np.searchsorted(ids, prompt_ids), max(len(ids) - 1, 0))
    found = ids[where] == prompt_ids if len(ids) else np.zeros(len(prompt_ids), bool)
    return categories, np.where(found, codes[where] if len(ids) else 0, categories.index("")).astype(np.intp)


def prompt_categories() -> tuple[str, ...]:
    """Every prompt category, "" included, sorted: the codes style groups carry."""
    named = Prompt.objects.order_by("category").values_list("category", flat=True).distinct()
    return tuple(sorted(set(named) | {""}))


def _columns(rows: list[tuple], width: int) -> list[list]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _category_codes(values: list[str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes into a sorted tuple of the distinct categories (`None` from a missing join counts as "")."""
    categories = tuple(sorted({value or "" for value in values}))
    index = {name: code for code, name in enumerate(categories)}
    return np.fromiter((index[value or ""] for value in values), np.intp, len(values)), categories


def data_fingerprint(settings: dict) -> str:
    """A digest of everything a recompute reads: equal digests give identical leaderboards.

    Verdicts are append-only apart from `excluded` (a jury's derived verdicts are rewritten by deleting and
    inserting, never updated), so their count, largest id and number excluded stand for their content; approvals, categories, dimensions, sources and the fit settings are hashed whole.
    """
    verdicts = Verdict.objects.aggregate(
        n=Count("id"), last=Max("id"), excluded=Count("id", filter=Q(excluded=True))
    )
    parts = {
        "verdicts": verdicts,
        "approved": list(
            Contender.objects.filter(status="approved").order_by("id").values_list("id", "slug")
        ),
        "categories": list(Prompt.objects.exclude(category="").order_by("id").values_list("id", "category")),
        "dimensions": list(
            Dimension.objects.filter(is_active=True).order_by("id").values_list("id", flat=True)
        ),
        "sources": list(Source.objects.order_by("id").values_list("id", "kind", "key", "name")),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
