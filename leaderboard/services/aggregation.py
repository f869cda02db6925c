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
from django.db.models import Count, Max, Q, QuerySet, Sum

from arena.models import Battle, Contender, Dimension, Output, Prompt, Source, Verdict
from leaderboard.services.query_arrays import query_arrays

# Outcome codes used in the arrays below; NULL (a soft verdict) gets its own code.
OUTCOMES = ("a", "b", "tie", "both_bad", None)
OUTCOME_CODE = {outcome: code for code, outcome in enumerate(OUTCOMES)}
# A's score per hard outcome code; soft groups use SUM(score) / COUNT instead.
HARD_SCORE = np.array([1.0, 0.0, 0.5, 0.5, np.nan])
STYLE_FIELDS = ("n_chars", "n_headers", "n_list_items", "n_bold")


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
    """Verdicts grouped with both answers' style counts, for style control.

    Style is a property of the battle, so groups are (source, dimension, [category,] A, B, the eight style
    counts): one per battle, except that battles whose answers look exactly alike share a group, which
    keeps imported battles (all with the same placeholder answer) down to one group per pair. `battles`
    counts the battles in each group, `count` and `total` their verdicts and SUM(score) as above.

    Raw SQL around the ORM's own query: verdicts are first summed per battle, then joined to the battle's
    answers once per battle instead of once per verdict (twice as fast as the ORM's single GROUP BY, which
    cannot aggregate over an aggregate). Rows arrive as numpy columns (`query_arrays`), so every selected
    value is a non-null bigint or double; the category is selected as its position in `categories`.
    """
    per_battle = (
        verdicts_scoped(source_ids=source_ids, dimension_ids=dimension_ids)
        .values_list("source_id", "dimension_id", "battle_id")
        .annotate(n=Count("id"), total=Sum("score"))
        .order_by()
    )
    inner, inner_params = per_battle.query.sql_with_params()
    categories = prompt_categories() if by_category else ("",)
    sql = _STYLE_SQL.format(
        inner=inner,
        battle=Battle._meta.db_table,
        output=Output._meta.db_table,
        category=_category_code_sql(len(categories)) if by_category else "CAST(0 AS bigint)",
        join_prompt=f"JOIN {Prompt._meta.db_table} p ON p.id = b.prompt_id" if by_category else "",
        style=", ".join(f"CAST({side}.{field} AS bigint)" for side in ("oa", "ob") for field in STYLE_FIELDS),
    )
    params = [*(categories if by_category else ()), *inner_params]
    return _style_rows(query_arrays(sql, params, _STYLE_COLUMNS), categories)


_STYLE_SQL = """
SELECT CAST(v.source_id AS bigint), CAST(v.dimension_id AS bigint), {category},
    CAST(b.contender_a_id AS bigint), CAST(b.contender_b_id AS bigint), {style},
    CAST(SUM(v.n) AS bigint), CAST(SUM(v.total) AS double precision), CAST(COUNT(*) AS bigint)
FROM ({inner}) AS v
JOIN {battle} b ON b.id = v.battle_id
JOIN {output} oa ON oa.id = b.output_a_id
JOIN {output} ob ON ob.id = b.output_b_id
{join_prompt}
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13
"""
_STYLE_COLUMNS = {
    "source": "int",
    "dimension": "int",
    "category": "int",
    "a": "int",
    "b": "int",
    **{f"{side}_{field}": "int" for side in ("a", "b") for field in STYLE_FIELDS},
    "count": "int",
    "total": "float",
    "battles": "int",
}


def _style_rows(columns: dict[str, np.ndarray], categories: tuple[str, ...]) -> GroupedRows:
    counts = columns["count"]
    return GroupedRows(
        source=columns["source"],
        dimension=columns["dimension"],
        category=columns["category"].astype(np.intp),
        a=columns["a"],
        b=columns["b"],
        score=columns["total"] / np.maximum(counts, 1),
        count=counts,
        total=columns["total"],
        categories=categories,
        style_a=np.column_stack([columns[f"a_{field}"] for field in STYLE_FIELDS]).astype(float),
        style_b=np.column_stack([columns[f"b_{field}"] for field in STYLE_FIELDS]).astype(float),
        battles=columns["battles"],
    )


def prompt_categories() -> tuple[str, ...]:
    """Every prompt category, "" included, sorted: the codes style groups carry."""
    named = Prompt.objects.order_by("category").values_list("category", flat=True).distinct()
    return tuple(sorted(set(named) | {""}))


def _category_code_sql(n_categories: int) -> str:
    """The prompt's category as its position in the parameters (a CASE: portable, and categories are few)."""
    whens = " ".join(f"WHEN %s THEN {code}" for code in range(n_categories))
    return f"CAST(CASE p.category {whens} END AS bigint)"


def _columns(rows: list[tuple], width: int) -> list[list]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _category_codes(values: list[str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes into a sorted tuple of the distinct categories (`None` from a missing join counts as "")."""
    categories = tuple(sorted({value or "" for value in values}))
    index = {name: code for code, name in enumerate(categories)}
    return np.fromiter((index[value or ""] for value in values), np.intp, len(values)), categories


def data_fingerprint(settings: dict) -> str:
    """A digest of everything a recompute reads: equal digests give identical leaderboards.

    Verdicts are append-only apart from `excluded`, so their count, largest id and number excluded stand
    for their content; approvals, categories, dimensions, sources and the fit settings are hashed whole.
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
