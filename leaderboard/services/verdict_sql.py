"""The SQL text of the recompute's reads of the verdict table: which verdicts count, and the two reads.

Written out rather than generated from querysets, so that every selected column has a name the reader asks
for (`sql_columns` matches them through the cursor's description) and no private query API is needed.
Table and column names come from the models' `_meta`; values are always parameters.

Left out, always: verdicts staff excluded, verdicts involving a contender that is not approved, and
dimensions that are not active. Approved contenders and active dimensions are few, so they are passed as
id lists: PostgreSQL hashes them, which costs less per verdict row than joining both tables; when every
contender is approved (every dimension active) the condition is left out, and when fewer are not, the
verdicts are tested against those instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection

from arena.models import Assignment, Battle, Contender, Dimension, Prompt, Source, Verdict

OUTCOME_CODES = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}
SOFT_CODE = 4  # a soft verdict: outcome NULL, score anywhere in [0, 1]
UNKNOWN_CODE = -1  # an outcome this code does not know (refused by the reader, never counted as a tie)


@dataclass(frozen=True)
class SqlQuery:
    sql: str
    params: list


def table_of(model) -> str:
    return model._meta.db_table


def column_of(model, field: str) -> str:
    return model._meta.get_field(field).column


def _in_list(expression: str, values: list[int], params: list) -> str:
    params.extend(values)
    return f"{expression} IN ({', '.join(['%s'] * len(values))})"


def counted_ids() -> tuple[list[int], list[int]]:
    """The approved contenders and the active dimensions: whose verdicts count (the ORM's
    `aggregation.verdicts_counted` and the SQL here both filter by these)."""
    approved, active = _counted_and_not()[::2]
    return approved, active


def _counted_and_not() -> tuple[list[int], list[int], list[int], list[int]]:
    """(approved, other contenders, active, inactive dimensions), ids."""
    contenders = list(Contender.objects.values_list("id", "status"))
    dimensions = list(Dimension.objects.values_list("id", "is_active"))
    approved = [pk for pk, status in contenders if status == Contender.Status.APPROVED]
    others = [pk for pk, status in contenders if status != Contender.Status.APPROVED]
    active = [pk for pk, is_active in dimensions if is_active]
    inactive = [pk for pk, is_active in dimensions if not is_active]
    return approved, others, active, inactive


def one_snapshot() -> bool:
    """Whether every statement of the current transaction sees the data as of one moment: inside a
    transaction at REPEATABLE READ or stricter (PostgreSQL; SQLite's are serializable). Under READ COMMITTED,
    or in autocommit, each statement sees what was committed when it started: a row added between two of
    them is in the second only."""
    if not connection.in_atomic_block:
        return False
    if connection.vendor != "postgresql":
        return connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute("SHOW transaction_isolation")
        return cursor.fetchone()[0] in ("repeatable read", "serializable")


def _among(
    expression: str, wanted: list[int], unwanted: list[int], params: list, *, whole: bool
) -> str | None:
    """The condition that `expression` (a foreign key, never NULL) is one of `wanted`. When `whole` says
    that `wanted` and `unwanted` are every row of the table it points to (read from the snapshot the
    verdicts will be read from): none at all when nothing is unwanted, else the shorter list. Testing every
    verdict against a hundred approved contenders, twice, cost a third of the time PostgreSQL took to read a
    million verdicts (docs/recompute.md)."""
    if not whole:  # a row added after the lists were read is neither: only naming `wanted` leaves it out
        return _in_list(expression, wanted, params)
    if not unwanted:
        return None
    if len(unwanted) < len(wanted):
        params.extend(unwanted)
        return f"{expression} NOT IN ({', '.join(['%s'] * len(unwanted))})"
    return _in_list(expression, wanted, params)


def counted_where(*, source_ids: list[int] | None, dimension_ids: list[int] | None) -> SqlQuery | None:
    """The WHERE clause (on verdicts aliased ``v``) of the verdicts ratings count, limited to some sources and
    dimensions if given; None when none can count (no approved contender, no active dimension, empty scope).

    The lists are read just before the verdicts. In the recompute's REPEATABLE READ transaction both come
    from one snapshot (`one_snapshot`), so together the lists are the whole tables the verdicts point to, and
    a condition every verdict meets is left out (`_among`); otherwise (a caller's READ COMMITTED transaction,
    autocommit) a contender or dimension may be added in between, and the counted ones are named in full."""
    approved, others, active, inactive = _counted_and_not()
    whole = one_snapshot()
    if dimension_ids is not None:
        inactive = sorted(set(active + inactive) - (set(active) & set(dimension_ids)))
        active = sorted(set(active) & set(dimension_ids))
    if not approved or not active or source_ids == []:
        return None
    params: list = []
    conditions = [
        f"NOT v.{column_of(Verdict, 'excluded')}",
        _among(f"v.{column_of(Verdict, 'contender_a')}", approved, others, params, whole=whole),
        _among(f"v.{column_of(Verdict, 'contender_b')}", approved, others, params, whole=whole),
        _among(f"v.{column_of(Verdict, 'dimension')}", active, inactive, params, whole=whole),
    ]
    if source_ids is not None:
        conditions.append(_in_list(f"v.{column_of(Verdict, 'source')}", list(source_ids), params))
    return SqlQuery(" AND ".join(c for c in conditions if c is not None), params)


def pairs_query(where: SqlQuery, categories: tuple[str, ...] | None) -> SqlQuery:
    """Counted verdicts grouped by (source, dimension, category code, A, B, outcome code) with their number
    and score sum. `categories`: the codes' names, or None to put every verdict under code 0 (no join)."""
    params: list = []
    category_column = f"p.{column_of(Prompt, 'category')}"
    if categories is None:
        category, joins, grouped = "0", "", []
    else:
        cases = " ".join(f"WHEN %s THEN {code}" for code in range(len(categories)))
        params.extend(categories)
        category, grouped = f"CASE {category_column} {cases} ELSE {UNKNOWN_CODE} END", [category_column]
        joins = (
            f" JOIN {table_of(Battle)} AS bt ON bt.id = v.{column_of(Verdict, 'battle')}"
            f" JOIN {table_of(Prompt)} AS p ON p.id = bt.{column_of(Battle, 'prompt')}"
        )
    outcome_column = f"v.{column_of(Verdict, 'outcome')}"
    outcome = _outcome_code(outcome_column)
    selected = {
        "source": f"v.{column_of(Verdict, 'source')}",
        "dimension": f"v.{column_of(Verdict, 'dimension')}",
        "category": category,
        "a": f"v.{column_of(Verdict, 'contender_a')}",
        "b": f"v.{column_of(Verdict, 'contender_b')}",
        "outcome": outcome,
    }
    # Grouped by the stored columns; the codes are computed from them once per group.
    grouped = [
        selected["source"],
        selected["dimension"],
        *grouped,
        selected["a"],
        selected["b"],
        outcome_column,
    ]
    sql = (
        f"SELECT {', '.join(f'{expression} AS {name}' for name, expression in selected.items())}, "
        f"COUNT(*) AS count, SUM(v.{column_of(Verdict, 'score')}) AS total "
        f"FROM {table_of(Verdict)} AS v{joins} WHERE {where.sql} GROUP BY {', '.join(grouped)}"
    )
    return SqlQuery(sql, params + where.params)


def _outcome_code(outcome_column: str) -> str:
    """SQL of the outcome's code: OUTCOME_CODES, SOFT_CODE for NULL, UNKNOWN_CODE for anything else."""
    return (
        f"CASE WHEN {outcome_column} IS NULL THEN {SOFT_CODE} "
        + " ".join(f"WHEN {outcome_column} = '{name}' THEN {code}" for name, code in OUTCOME_CODES.items())
        + f" ELSE {UNKNOWN_CODE} END"
    )


@dataclass(frozen=True)
class Packing:
    """Bit widths of the largest contender, dimension and source ids: `battle_scores_query` sends each
    verdict's contenders as one integer, and its source, dimension and outcome code as another, when they
    fit in 63 bits (`packing`). PostgreSQL spends most of the read on turning each value into bytes and
    appending it (`sql_columns`): seven integers per verdict down to four took a fifth off the read."""

    contender: int
    dimension: int
    source: int

    def fits(self) -> bool:
        return 2 * self.contender <= 63 and self.source + self.dimension + OUTCOME_BITS <= 63


# Bits of an outcome code plus one (UNKNOWN_CODE … SOFT_CODE as 0 … SOFT_CODE + 1).
OUTCOME_BITS = (SOFT_CODE + 1).bit_length()


def packing() -> Packing | None:
    """The widths of the ids verdicts can hold now (one query of three maxima), or None if they do not fit,
    or if the verdicts will not be read from the same snapshot (`one_snapshot`): an id added in between
    could be wider, and its bits would spill into the next column."""
    if not one_snapshot():
        return None
    tables = (table_of(Contender), table_of(Dimension), table_of(Source))
    maxima = ", ".join(f"(SELECT MAX(id) FROM {table})" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {maxima}")
        widths = [int(value or 0).bit_length() for value in cursor.fetchone()]
    packed = Packing(*widths)
    return packed if packed.fits() else None


def battle_scores_query(
    where: SqlQuery, *, with_outcome: bool = False, with_id: bool = False, packed: Packing | None = None
) -> SqlQuery:
    """Each counted verdict's source, dimension, battle, contenders and score (for style control), its
    outcome code (`with_outcome`: for pair counts grouped from the same rows) and its id (`with_id`: for
    calibration's labelled battles, ordered by it). With `packed`, the contenders come as one column
    "pair" (A shifted left by `packed.contender` bits, or B) and source, dimension and the outcome code plus
    one as "keys" (without `with_outcome`, a 0 in its place): see `verdict_sql_unpack`."""
    names = {"source": "source", "dimension": "dimension", "a": "contender_a", "b": "contender_b"}
    column = {name: f"v.{column_of(Verdict, field)}" for name, field in names.items()}
    outcome = _outcome_code(f"v.{column_of(Verdict, 'outcome')}") if with_outcome else None
    selected = {"battle": f"v.{column_of(Verdict, 'battle')}", "score": f"v.{column_of(Verdict, 'score')}"}
    if packed is None:
        selected |= column
        if outcome is not None:
            selected["outcome"] = outcome
    else:
        selected["pair"] = f"(({column['a']} << {packed.contender}) | {column['b']})"
        code = "0" if outcome is None else f"(({outcome}) + 1)"
        selected["keys"] = (
            f"(({column['source']} << {packed.dimension + OUTCOME_BITS}) "
            f"| ({column['dimension']} << {OUTCOME_BITS}) | {code})"
        )
    if with_id:
        selected["verdict"] = "v.id"
    listed = ", ".join(f"{expression} AS {name}" for name, expression in selected.items())
    return SqlQuery(f"SELECT {listed} FROM {table_of(Verdict)} AS v WHERE {where.sql}", list(where.params))


def verdict_sql_unpack(columns: dict[str, np.ndarray], packed: Packing) -> dict[str, np.ndarray]:
    """The columns `battle_scores_query` names without packing, from those it sends with `packed`."""
    pair, keys = columns.pop("pair"), columns.pop("keys")
    columns["a"] = pair >> packed.contender
    columns["b"] = pair & ((1 << packed.contender) - 1)
    columns["source"] = keys >> (packed.dimension + OUTCOME_BITS)
    columns["dimension"] = (keys >> OUTCOME_BITS) & ((1 << packed.dimension) - 1)
    code = (keys & ((1 << OUTCOME_BITS) - 1)) - 1
    columns["outcome"] = code
    return columns


def routed_battles_query() -> SqlQuery:
    """The battles people voted on because judges disputed them (`labelled_query` leaves them out)."""
    sql = (
        f"SELECT DISTINCT r.{column_of(Assignment, 'battle')} AS battle FROM {table_of(Assignment)} AS r "
        f"WHERE r.{column_of(Assignment, 'disputed')} AND r.{column_of(Assignment, 'state')} = %s"
    )
    return SqlQuery(sql, [Assignment.State.VOTED.value])


def labelled_query(*, people: SqlQuery, judged: SqlQuery) -> SqlQuery:
    """The calibrated sources' hard verdicts on battles people also voted on, each with the people's mean
    score for A on that battle and dimension: (source, dimension, battle, verdict id, A, B, human, judge).

    `people` and `judged`: the counted-verdict conditions (`counted_where`) of the people's sources and of the
    calibrated (judge, jury) sources. Battles people voted on because judges disputed them (routed to them
    first, `Assignment.disputed`) are left out."""
    battle, dimension = column_of(Verdict, "battle"), column_of(Verdict, "dimension")
    routed = (
        f"v.{battle} NOT IN (SELECT r.{column_of(Assignment, 'battle')} FROM {table_of(Assignment)} AS r "
        f"WHERE r.{column_of(Assignment, 'disputed')} AND r.{column_of(Assignment, 'state')} = %s)"
    )
    voted = Assignment.State.VOTED.value
    people_sql = (
        f"SELECT v.{battle} AS battle, v.{dimension} AS dimension, AVG(v.{column_of(Verdict, 'score')}) AS mean "
        f"FROM {table_of(Verdict)} AS v WHERE {people.sql} AND {routed} GROUP BY v.{battle}, v.{dimension}"
    )
    selected = {
        "source": f"v.{column_of(Verdict, 'source')}",
        "dimension": f"v.{dimension}",
        "battle": f"v.{battle}",
        "verdict": "v.id",
        "a": f"v.{column_of(Verdict, 'contender_a')}",
        "b": f"v.{column_of(Verdict, 'contender_b')}",
        "human": "h.mean",
        "judge": f"v.{column_of(Verdict, 'score')}",
    }
    sql = (
        f"SELECT {', '.join(f'{expression} AS {name}' for name, expression in selected.items())} "
        f"FROM {table_of(Verdict)} AS v JOIN ({people_sql}) AS h "
        f"ON h.battle = v.{battle} AND h.dimension = v.{dimension} "
        f"WHERE {judged.sql} AND v.{column_of(Verdict, 'outcome')} IS NOT NULL"
    )  # the join leaves the routed battles out of the judges' side too
    return SqlQuery(sql, [*people.params, voted, *judged.params])


# Agreement labels of hard outcomes: A better, B better, or a draw (tie and both-bad score the same).
LABEL_CODES = {"a": 0, "b": 1, "tie": 2, "both_bad": 2}
N_LABELS = 3


def hard_labels_query(where: SqlQuery, *, categories: tuple[str, ...] | None) -> SqlQuery:
    """Each counted hard verdict's battle, dimension and label code (`LABEL_CODES`); with `categories`, also
    its source and its prompt's category code (an index into `categories`, -1 for a name not among them)."""
    outcome = f"v.{column_of(Verdict, 'outcome')}"
    label = "CASE " + " ".join(f"WHEN {outcome} = '{name}' THEN {code}" for name, code in LABEL_CODES.items())
    selected = [
        f"v.{column_of(Verdict, 'battle')} AS battle",
        f"v.{column_of(Verdict, 'dimension')} AS dimension",
        f"{label} END AS label",
    ]
    params: list = []
    joins = ""
    if categories is not None:
        cases = " ".join(f"WHEN %s THEN {code}" for code in range(len(categories)))
        params.extend(categories)
        selected += [
            f"v.{column_of(Verdict, 'source')} AS source",
            f"CASE p.{column_of(Prompt, 'category')} {cases} ELSE {UNKNOWN_CODE} END AS category",
        ]
        joins = (
            f" JOIN {table_of(Battle)} AS bt ON bt.id = v.{column_of(Verdict, 'battle')}"
            f" JOIN {table_of(Prompt)} AS p ON p.id = bt.{column_of(Battle, 'prompt')}"
        )
    sql = (
        f"SELECT {', '.join(selected)} FROM {table_of(Verdict)} AS v{joins} "
        f"WHERE {where.sql} AND {outcome} IS NOT NULL"
    )
    return SqlQuery(sql, params + list(where.params))
