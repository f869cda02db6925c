"""Verdicts → grouped rows: the only place a recompute reads the verdict table (SQL text in `verdict_sql`).

Fits never see single verdicts: the database groups them by (source, dimension, category, contender A,
contender B, outcome) and returns a count and a sum of scores per group, so the work after the query grows
with the number of contenders, not of votes. Soft verdicts (outcome NULL) form one group per pair whose
SUM(score) is exact: it is all Bradley–Terry needs (see `leaderboard.rating.counts`).

Left out, always: verdicts staff excluded, verdicts involving a contender that is not approved, and
dimensions that are not active. Every read comes back as numpy columns matched by name (`sql_columns`);
rows are grouped by sorting on named columns (`grouping`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet

from arena.models import Contender, Dimension, Output, Prompt, Source, Verdict
from leaderboard.services.battle_styles import STYLE_FIELDS, battle_table  # noqa: F401  (re-exported)
from leaderboard.services.grouping import row_groups
from leaderboard.services.sql_columns import sql_columns
from leaderboard.services.verdict_sql import (
    OUTCOME_CODES,
    UNKNOWN_CODE,
    battle_scores_query,
    counted_ids,
    counted_where,
    packing,
    pairs_query,
    verdict_sql_unpack,
)

# Outcome codes used in the arrays below (see verdict_sql); NULL (a soft verdict) gets its own, the last.
OUTCOMES = (*sorted(OUTCOME_CODES, key=OUTCOME_CODES.__getitem__), None)
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
    """The verdicts ratings count, as a queryset (for the reads that are not the recompute's two big ones):
    not excluded, both contenders approved, on an active dimension — the rule `verdict_sql.counted_where`
    writes in SQL, from the same id lists."""
    approved, active = counted_ids()
    return Verdict.objects.filter(
        excluded=False,
        contender_a_id__in=approved,
        contender_b_id__in=approved,
        dimension_id__in=active,
    )


def categories_exist() -> bool:
    """Whether any prompt has a category; without one, the join to prompts is skipped."""
    return Prompt.objects.exclude(category="").exists()


def verdict_pairs_aggregate(
    *, source_ids: list[int] | None = None, dimension_ids: list[int] | None = None, by_category: bool = True
) -> GroupedRows:
    """``GROUP BY source, dimension, [category,] contender_a, contender_b, outcome`` with COUNT and SUM(score)."""
    categories = prompt_categories() if by_category else ("",)
    where = counted_where(source_ids=source_ids, dimension_ids=dimension_ids)
    fields = {name: "int" for name in ("source", "dimension", "category", "a", "b", "outcome", "count")}
    if where is None:
        columns = {name: np.zeros(0, np.int64) for name in fields} | {"total": np.zeros(0)}
    else:
        query = pairs_query(where, categories if by_category else None)
        columns = sql_columns(query.sql, query.params, fields | {"total": "float"})
    _refuse_unknown_codes(columns, categories)
    counts, totals = columns["count"], columns["total"]
    hard = HARD_SCORE[columns["outcome"]]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.isnan(hard), totals / np.maximum(counts, 1), hard)
    return GroupedRows(
        source=columns["source"],
        dimension=columns["dimension"],
        category=columns["category"].astype(np.intp),
        a=columns["a"],
        b=columns["b"],
        score=score,
        count=counts,
        total=totals,
        categories=categories,
        outcome=columns["outcome"].astype(np.intp),
    )


class UnknownValue(ValueError):
    """A verdict outcome or prompt category the recompute does not know: never counted as something else."""


def _refuse_unknown_codes(columns: dict[str, np.ndarray], categories: tuple[str, ...]) -> None:
    if (columns["outcome"] == UNKNOWN_CODE).any():
        raise UnknownValue(
            f"Some verdicts have an outcome other than {', '.join(OUTCOME_CODES)} or none (soft): fix them "
            "in the verdict table (the database's check constraint should have refused them)."
        )
    if (columns["category"] == UNKNOWN_CODE).any():
        raise UnknownValue(
            f"A prompt's category changed while the verdicts were read (known: {', '.join(categories)}); "
            "run the recompute again."
        )


def verdict_styles_aggregate(
    *, source_ids: list[int] | None = None, dimension_ids: list[int] | None = None, by_category: bool = True
) -> GroupedRows:
    """Verdicts summed per (source, dimension, battle), with the battle's contenders, category and both
    answers' style counts, for style control; battles that look alike and got the same verdicts share a row
    (`battles` says how many, see `_merged_alike`).

    The database returns only the counted verdicts' (source, dimension, battle, contenders, score), as numpy
    columns (`sql_columns`); numpy sums them per battle, and the battles' prompts and answer styles come from
    the process's battle table (`battle_styles`), which reads each battle once, rather than joining every
    verdict to its battle and both answers in SQL.
    """
    verdicts = verdict_columns_read(source_ids, dimension_ids, with_outcome=False)
    return _styles_grouped(verdicts, by_category).styles


def verdicts_aggregate(
    *,
    source_ids: list[int] | None = None,
    dimension_ids: list[int] | None = None,
    by_category: bool = True,
) -> tuple[GroupedRows, GroupedRows]:
    """(`verdict_pairs_aggregate`, `verdict_styles_aggregate`) from one read of the counted verdicts: the pair
    groups are grouped by numpy from the rows the style groups are made of (with their outcome codes), so
    the verdict table is read once instead of twice. Counts are equal; soft groups' score totals are summed
    in another order than PostgreSQL's, so they may differ in the last bits."""
    verdicts = verdict_columns_read(source_ids, dimension_ids, with_outcome=True)
    grouped = verdicts_grouped(verdicts, by_category=by_category)
    return grouped.pairs, grouped.styles


@dataclass(frozen=True)
class VerdictGroups:
    """The pair and style groups of every counted verdict, and per verdict (parallel to the columns read) its
    category code (into the groups' `categories`) and its battle's prompt id."""

    pairs: GroupedRows
    styles: GroupedRows
    category: np.ndarray
    prompt: np.ndarray


def verdicts_grouped(verdicts: dict[str, np.ndarray], *, by_category: bool) -> VerdictGroups:
    """`verdicts_aggregate` of the columns of `verdict_columns_read` (with outcomes), with each verdict's
    category code and prompt."""
    styled = _styles_grouped(verdicts, by_category)
    styles, category_of_verdict = styled.styles, styled.category
    _refuse_unknown_codes(
        {"outcome": verdicts["outcome"], "category": category_of_verdict}, styles.categories
    )
    pairs = row_groups(
        {
            "source": verdicts["source"],
            "dimension": verdicts["dimension"],
            "category": category_of_verdict,
            "a": verdicts["a"],
            "b": verdicts["b"],
            "outcome": verdicts["outcome"],
        }
    )
    first = pairs.first
    counts, totals = pairs.count(), pairs.sum(verdicts["score"])
    outcome = verdicts["outcome"][first]
    hard = HARD_SCORE[outcome]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.isnan(hard), totals / np.maximum(counts, 1), hard)
    grouped = GroupedRows(
        source=verdicts["source"][first],
        dimension=verdicts["dimension"][first],
        category=category_of_verdict[first].astype(np.intp),
        a=verdicts["a"][first],
        b=verdicts["b"][first],
        score=score,
        count=counts,
        total=totals,
        categories=styles.categories,
        outcome=outcome.astype(np.intp),
    )
    return VerdictGroups(grouped, styles, category_of_verdict, styled.prompt)


def verdict_columns_read(
    source_ids: list[int] | None,
    dimension_ids: list[int] | None,
    *,
    with_outcome: bool,
    with_id: bool = False,
) -> dict[str, np.ndarray]:
    """Every counted verdict's source, dimension, battle, contenders and score (and outcome code, and id).
    Sent by PostgreSQL with the small integer columns packed two and three to a value where they fit
    (`verdict_sql.Packing`), unpacked here."""
    where = counted_where(source_ids=source_ids, dimension_ids=dimension_ids)
    fields = {"source": "int", "dimension": "int", "battle": "int", "a": "int", "b": "int", "score": "float"}
    if with_outcome:
        fields["outcome"] = "int"
    if with_id:
        fields["verdict"] = "int"
    if where is None:  # no approved contender or no active dimension: nothing to count
        return {name: np.zeros(0, np.int64 if kind == "int" else float) for name, kind in fields.items()}
    packed = packing() if connection.vendor == "postgresql" else None
    query = battle_scores_query(where, with_outcome=with_outcome, with_id=with_id, packed=packed)
    if packed is None:
        return sql_columns(query.sql, query.params, fields)
    sent = {name: kind for name, kind in fields.items() if name not in ("source", "dimension", "a", "b")}
    sent.pop("outcome", None)
    columns = verdict_sql_unpack(
        sql_columns(query.sql, query.params, sent | {"pair": "int", "keys": "int"}), packed
    )
    if not with_outcome:
        del columns["outcome"]
    return {name: columns[name] for name in fields}


@dataclass(frozen=True)
class _Styled:
    styles: GroupedRows
    category: np.ndarray
    prompt: np.ndarray


def _styles_grouped(verdicts: dict[str, np.ndarray], by_category: bool) -> _Styled:
    """The style groups of `verdict_styles_aggregate` from the verdicts' columns, and each verdict's category
    code (into the groups' `categories`) and prompt id (from the battle table)."""
    per_battle = row_groups({name: verdicts[name] for name in ("battle", "source", "dimension")})
    first = per_battle.first
    battle_ids = verdicts["battle"][first]
    table = battle_table(_distinct(battle_ids))
    at = table.positions(battle_ids)
    # The verdicts carry their battle's contenders: a cached battle that disagrees was rewritten (staff, a
    # restored database), so it is read again rather than trusted.
    stale = (table.a[at] != verdicts["a"][first]) | (table.b[at] != verdicts["b"][first])
    if stale.any():
        table = battle_table(_distinct(battle_ids), reread=_distinct(battle_ids[stale]))
        at = table.positions(battle_ids)
    categories, category = _battle_categories(table.prompt[at], by_category)
    style_a, style_b = table.style_a[at], table.style_b[at]
    keys = {
        "source": verdicts["source"][first],
        "dimension": verdicts["dimension"][first],
        "category": category,
        "a": table.a[at],
        "b": table.b[at],
        # Each side's counts gathered once (rows × 4), the keys are views of their columns.
        **{f"a_{name}": style_a[:, i] for i, name in enumerate(STYLE_FIELDS)},
        **{f"b_{name}": style_b[:, i] for i, name in enumerate(STYLE_FIELDS)},
        # Merged battles must also agree on their verdicts (see `_merged_alike`).
        "count": per_battle.count(),
        "total": per_battle.sum(verdicts["score"]),
    }
    merged = _merged_alike(keys, categories, battles_alike=not _every_battle_looks_distinct(battle_ids, keys))
    group_of = per_battle.group_of
    return _Styled(merged, category[group_of], table.prompt[at][group_of])


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by sorting: numpy 2's unique hashes integers, which took 0.7 s for a million
    distinct battle ids (sorting them, already nearly in order, takes milliseconds)."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


# The keys of `_merged_alike` that belong to the battle itself (the others: source, dimension, its verdicts).
_LOOK = ("category", "a", "b", *(f"{side}_{name}" for side in "ab" for name in STYLE_FIELDS))


def _every_battle_looks_distinct(battle_ids: np.ndarray, keys: dict[str, np.ndarray]) -> bool:
    """Whether no two battles share category, contenders and style counts. Rows are one per (source,
    dimension, battle), so rows can only be alike for `_merged_alike` when two battles look alike: checked
    on the battles (tens of thousands) instead of sorting every row by thirteen keys (a million).

    First by one 64-bit digest of each battle's look: battles that look alike have equal digests, so
    distinct digests settle it with one sort of plain integers (a million battles: a fraction of grouping
    them by eleven keys). Equal digests (alike battles, or two looks that happen to collide) are decided
    exactly, by grouping."""
    first_row = _first_of_each(battle_ids)
    looks = {name: keys[name][first_row] for name in _LOOK}
    if _digests_distinct(list(looks.values())):
        return True
    return len(row_groups(looks)) == len(first_row)


def _first_of_each(values: np.ndarray) -> np.ndarray:
    """The index of the first occurrence of each distinct value: where a new value starts when `values` is
    sorted (as the per-battle groups come, in the order of their keys), else by `np.unique`."""
    if len(values) < 2 or not (values[1:] >= values[:-1]).all():
        return np.unique(values, return_index=True)[1]
    return np.flatnonzero(np.r_[True, values[1:] != values[:-1]])


# An odd 64-bit multiplier (the golden ratio's fraction): digits of a look mix into every bit of the digest.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _digests_distinct(columns: list[np.ndarray]) -> bool:
    """True if the rows' digests of `columns` (integer columns) are all distinct, which proves the rows
    distinct; False says nothing (alike rows, a collision, or columns that are not integers)."""
    if not columns or any(column.dtype.kind not in "iu" for column in columns):
        return False
    digest = np.zeros(len(columns[0]), np.uint64)
    for column in columns:
        digest *= _MIX  # wraps modulo 2⁶⁴, as intended
        digest ^= column.astype(np.uint64)
        digest ^= digest >> np.uint64(29)
    ordered = np.sort(digest)
    return not (ordered[1:] == ordered[:-1]).any()


def _merged_alike(
    keys: dict[str, np.ndarray], categories: tuple[str, ...], *, battles_alike: bool = True
) -> GroupedRows:
    """One row per distinct key — source, dimension, category, A, B, 8 style counts, and the battle's verdict
    count and score sum — with `battles` saying how many battles each row holds. Battles that look exactly
    alike *and* got the same verdicts (imported ones: the same placeholder answer, one verdict each) share a
    row. That changes no rating, and the style bootstrap, which redraws battles per row, still sees each
    distinct outcome as its own row, so merging loses no variance; an import of a million battles comes down
    to a few rows per pair. When nothing looks alike (the common case at scale; `battles_alike` False says
    so without sorting the rows) the rows keep their order.
    """
    count, total = keys["count"], keys["total"]
    alike = row_groups(keys) if battles_alike else None
    if alike is None or len(alike) == len(count):
        row = {name: keys[name] for name in keys}  # every row its own: the columns as they are, not copied
        count_of, total_of, battles = count.astype(np.int64), total, np.ones(len(count), np.int64)
    else:
        row = {name: keys[name][alike.first] for name in keys}
        count_of, total_of, battles = alike.sum(count).astype(np.int64), alike.sum(total), alike.count()
    return GroupedRows(
        source=row["source"],
        dimension=row["dimension"],
        category=row["category"].astype(np.intp),
        a=row["a"],
        b=row["b"],
        score=total_of / np.maximum(count_of, 1),
        count=count_of,
        total=total_of,
        categories=categories,
        style_a=np.column_stack([row[f"a_{name}"] for name in STYLE_FIELDS]).astype(float),
        style_b=np.column_stack([row[f"b_{name}"] for name in STYLE_FIELDS]).astype(float),
        battles=battles,
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
        # Outputs are immutable once stored, so their count and largest id stand for the coverage counts.
        "outputs": Output.objects.aggregate(n=Count("id"), last=Max("id")),
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
