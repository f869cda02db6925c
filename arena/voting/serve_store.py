"""Serving's own reads and writes, in SQL: the statements every served battle runs, read by column name.

Serving a battle used to compile two dozen ORM queries (docs/voting-performance.md has the profile); the
ORM's query building, not PostgreSQL, was most of a served battle's CPU. Here each step is one statement:
- `open_assignment`: the annotator's open battle in a task (a reload, or a second tab), then
  its battle with its prompt and both answers;
- `task_contenders`: the task's contenders and which of them the annotator may not be served;
- `pair_candidate`: the best unseen battle of one contender pair (created or not yet), with the places its
  battles hold, the annotator's history and identity leaks all checked in the database;
- `battle_with_answers`: a battle with its prompt and answers, for a new assignment (a pair's existing battle
  comes with `pair_candidate`'s row instead);
- `assignment_insert`: the new assignment, or None when another request served this annotator first.

The statements whose plans are index probes whatever their parameters are prepared once per connection
(`prepared_run`; docs/voting-performance.md, "Prepared statements for the serve"): planning them was most of
what a serve cost PostgreSQL.

The rules themselves are explained where they are decided (arena.voting.selection, arena.voting.conflicts);
tests/arena/test_voting_*.py run these statements on PostgreSQL, the demo command on SQLite.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.utils.dateparse import parse_datetime

from arena.models import AnnotationTask, Annotator, Assignment, Battle, Contender, Dimension, Output, Prompt
from arena.voting.vote_store import prepared_cursor, stale_prepared_plan

T = TypeVar("T")

SHUFFLE_MODULUS = 2147483647  # a prime: (id × k) mod p is a permutation of ids for any k in [1, p − 1]


# Each statement's column names, by its text (`column_names`).
COLUMN_NAMES_KEPT = 256  # statements whose names a process keeps (then it starts again)
_column_names_kept: dict[str, list[str]] = {}


def column_names(cursor: Any, sql: str) -> list[str]:
    """The names of the columns `sql` returned on `cursor`, read from `cursor.description` once per process.

    psycopg builds `description` afresh on each access, a `Column` per column with its type looked up: for
    the serve's ~70 columns about a tenth of a millisecond of CPU per serve (docs/voting-performance.md,
    "Fewer costs per serve, round 2"). A statement's names follow from its text when it names every column
    it selects (no `*` over a table, whose columns a migration may change): the serve's statements do. A
    row of another length (a `*` after all) reads the names afresh (`_rows`)."""
    names = _column_names_kept.get(sql)
    if names is None:
        names = [column[0] for column in cursor.description]
        if len(_column_names_kept) >= COLUMN_NAMES_KEPT:
            _column_names_kept.clear()
        _column_names_kept[sql] = names
    return names


def _rows(cursor: Any, sql: str) -> list[dict[str, Any]]:
    rows = cursor.fetchall()
    if not rows:
        return []
    names = column_names(cursor, sql)
    if len(names) != len(rows[0]):  # not the statement the names were kept for: read them again
        _column_names_kept.pop(sql, None)
        names = column_names(cursor, sql)
    return [dict(zip(names, row, strict=True)) for row in rows]


def _query(sql: str, params: dict[str, Any], *, prepare: bool = False) -> list[dict[str, Any]]:
    """The statement's rows by column name; `prepare`: on PostgreSQL, prepared once per connection
    (`prepared_run`), for statements whose plan is the same whatever the parameters."""
    if prepare:
        return prepared_run(sql, params, lambda cursor: _rows(cursor, sql))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _rows(cursor, sql)


def prepared_run(sql: str, params: Any, read: Callable[[Any], T]) -> T:
    """`read(cursor)` after running `sql` on a cursor that prepares it (once per connection, on PostgreSQL:
    `vote_store.prepared_cursor`), so PostgreSQL no longer parses and plans it on every serve.

    Only for statements whose every probe is an equality on an index (the serve's head, contenders, pick,
    insert and progress): the generic plan PostgreSQL settles on after five runs is then the custom one.
    (The full pair statement, `pair_candidate`, is not: its generic plan was far slower.)
    A migration that changed the type of a column a prepared statement returns makes PostgreSQL refuse it
    ("cached plan must not change result type", SQLSTATE 0A000). In a transaction the caller's rollback makes
    psycopg forget its prepared statements (the vote runs its transaction again on that error); a serve runs
    in autocommit, where nothing rolls back and the refused statement would stay prepared and refused on
    every serve of this connection: so the prepared statements are dropped (`_prepared_forget`) and the
    statement run once more (it wrote nothing: the refusal comes before it runs)."""
    db = connections[DEFAULT_DB_ALIAS]
    try:
        with prepared_cursor(db) as cursor:
            cursor.execute(sql, params)
            return read(cursor)
    except DatabaseError as error:
        if db.in_atomic_block or not stale_prepared_plan(error):
            raise
    _prepared_forget(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, params)
        return read(cursor)


def _prepared_forget(db: Any) -> None:
    """Drop this connection's prepared statements, in PostgreSQL and in psycopg's record of them. psycopg does
    so when a transaction rolls back (a ROLLBACK, then DEALLOCATE ALL), its only public way: one empty
    transaction, rolled back."""
    with transaction.atomic(using=db.alias):
        with db.cursor() as cursor:
            cursor.execute("SELECT 1")
        transaction.set_rollback(True, using=db.alias)


def _json(value: Any) -> Any:
    """PostgreSQL may hand JSON back decoded, SQLite always as text."""
    return json.loads(value) if isinstance(value, str) else value


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back text (naive, in UTC); PostgreSQL an aware datetime."""
    when = parse_datetime(value) if isinstance(value, str) else value
    if when is None:
        raise ValueError(f"not a date and time: {value!r}")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- a battle with its prompt and answers, as model instances ------------------------------------------

_PROMPT_COLUMNS = ("id", "prompt_set_id", "text", "system_message", "later_turns", "html", "html_stamp")
_OUTPUT_COLUMNS = ("id", "contender_id", "prompt_id", "text", "later_replies", "html", "html_stamp")
_BATTLE_COLUMNS = ("id", "prompt_id", "output_a_id", "output_b_id", "contender_a_id", "contender_b_id")


def _select(alias: str, prefix: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{column} AS {prefix}{column}" for column in columns)


_BATTLE_SELECT = ", ".join(
    (
        _select("b", "b_", _BATTLE_COLUMNS),
        _select("p", "p_", _PROMPT_COLUMNS),
        _select("oa", "oa_", _OUTPUT_COLUMNS),
        _select("ob", "ob_", _OUTPUT_COLUMNS),
    )
)
_BATTLE_JOINS = """
  JOIN arena_prompt p ON p.id = b.prompt_id
  JOIN arena_output oa ON oa.id = b.output_a_id
  JOIN arena_output ob ON ob.id = b.output_b_id
"""


@cache
def _field_order(model, columns: tuple[str, ...]) -> list[str]:
    """`columns` in the model's field order, the order Model.from_db takes values in."""
    return [f.attname for f in model._meta.concrete_fields if f.attname in columns]


def _instance(model, row: dict[str, Any], prefix: str, columns: tuple[str, ...], json_columns=()):
    """A model instance from the row's `prefix`ed columns; its other fields are deferred (loaded on access),
    so code reading a field this module did not fetch still gets the stored value."""
    ordered = _field_order(model, columns)
    values = [_json(row[prefix + c]) if c in json_columns else row[prefix + c] for c in ordered]
    return model.from_db(connection.alias, ordered, values)


def _battle(row: dict[str, Any]) -> Battle:
    """The battle of a row selected with _BATTLE_SELECT, its prompt and both outputs attached."""
    battle = _instance(Battle, row, "b_", _BATTLE_COLUMNS)
    battle.prompt = _instance(Prompt, row, "p_", _PROMPT_COLUMNS, ("later_turns", "html"))
    battle.output_a = _instance(Output, row, "oa_", _OUTPUT_COLUMNS, ("later_replies", "html"))
    battle.output_b = _instance(Output, row, "ob_", _OUTPUT_COLUMNS, ("later_replies", "html"))
    return battle


def battle_with_answers(battle_id: int) -> Battle:
    """The battle with its prompt and both outputs loaded (their texts and turns), in one statement."""
    battle = _battle_or_none(battle_id)
    if battle is None:
        raise Battle.DoesNotExist(f"No battle {battle_id}.")
    return battle


def _battle_or_none(battle_id: int) -> Battle | None:
    rows = _query(
        f"SELECT {_BATTLE_SELECT} FROM arena_battle b {_BATTLE_JOINS} WHERE b.id = %(battle)s",
        {"battle": battle_id},
        prepare=True,
    )
    return _battle(rows[0]) if rows else None


# --- the open assignment ----------------------------------------------------------------------------

_ASSIGNMENT_COLUMNS = ("id", "token", "task_id", "annotator_id", "battle_id", "gold_id", "left_is_a", "state",
                       "served_at", "min_read_ms", "disputed")  # fmt: skip
# The assignment alone first: after a vote (the common serve) there is none, and a statement joining the
# battle, prompt and answers cost PostgreSQL more to plan (~0.8 ms) than this probe of the one-open-per-task
# unique index costs in all. A reload pays a second statement for the battle.
_OPEN = f"""
SELECT {_select("a", "a_", _ASSIGNMENT_COLUMNS)}
  FROM arena_assignment a
 WHERE a.task_id = %(task)s AND a.annotator_id = %(annotator)s AND a.state = %(served)s
"""


def open_assignment(task: AnnotationTask, annotator: Annotator) -> Assignment | None:
    """The annotator's open (served, unanswered) assignment in the task, with its battle, prompt and answers
    loaded; None when there is none (the database allows at most one)."""
    rows = _query(
        _OPEN, {"task": task.pk, "annotator": annotator.pk, "served": Assignment.State.SERVED}, prepare=True
    )
    if not rows:
        return None
    row = rows[0]
    row["a_left_is_a"], row["a_disputed"] = bool(row["a_left_is_a"]), bool(row["a_disputed"])
    row["a_served_at"] = _aware(row["a_served_at"])
    assignment = _instance(Assignment, row, "a_", _ASSIGNMENT_COLUMNS)
    assignment.task, assignment.annotator = task, annotator
    battle = _battle_or_none(assignment.battle_id)
    if battle is None:  # deleted since the probe, and its assignments with it: none is open now
        return None
    assignment.battle = battle
    return assignment


def assignment_insert(assignment: Assignment) -> Assignment | None:
    """Insert the new (unsaved) assignment; None when the database refuses it because the annotator has an
    open assignment in the task (another tab served first) or was served this battle before.

    The columns and their database forms come from the model, so a new field with a default needs nothing
    here. ON CONFLICT DO NOTHING instead of a savepoint around an INSERT that may fail: one statement."""
    fields = [f for f in Assignment._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(assignment, add=True), connection) for f in fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)  # standard SQL quoting (PostgreSQL and SQLite)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO arena_assignment ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING id"
    row = prepared_run(sql, values, lambda cursor: cursor.fetchone())
    if row is None:
        return None
    assignment.pk = row[0]
    assignment._state.adding = False
    return assignment


# --- which contenders, which battle ----------------------------------------------------------------

_ELIGIBLE = """
chosen AS (
    SELECT c.id FROM arena_contender c
      JOIN arena_annotationtask_contenders tc ON tc.contender_id = c.id
     WHERE tc.annotationtask_id = %(task)s AND c.status = %(approved)s
), eligible AS MATERIALIZED (
    SELECT id FROM chosen
    UNION
    SELECT c.id FROM arena_contender c
     WHERE c.status = %(approved)s AND NOT EXISTS (SELECT 1 FROM chosen)
       AND EXISTS (SELECT 1 FROM arena_output o JOIN arena_prompt p ON p.id = o.prompt_id
                    WHERE o.contender_id = c.id AND p.prompt_set_id = %(prompt_set)s)
)"""
_CONTENDERS = f"""
WITH {_ELIGIBLE}
SELECT c.id AS contender_id,
       CASE WHEN n.id IS NOT NULL
                 AND ((n.user_id IS NOT NULL AND c.submitted_by_id = n.user_id)
                      OR (n.organization <> '' AND UPPER(c.organization) = UPPER(n.organization)))
            THEN 1 ELSE 0 END AS conflicting
  FROM eligible e
  JOIN arena_contender c ON c.id = e.id
  LEFT JOIN arena_annotator n ON n.id = %(annotator)s
 ORDER BY c.id
"""


def task_contenders(*, task_id: int, prompt_set_id: int, annotator_id: int | None) -> list[tuple[int, bool]]:
    """(contender id, conflicting) for each contender the task serves, by id: its approved contenders, or
    every approved contender with answers in its prompt set when it lists no approved one. `conflicting`:
    the annotator submitted it or shares its organization (arena.voting.conflicts), never with no annotator."""
    params = {"task": task_id, "prompt_set": prompt_set_id, "annotator": annotator_id,
              "approved": Contender.Status.APPROVED}  # fmt: skip
    return [
        (row["contender_id"], bool(row["conflicting"])) for row in _query(_CONTENDERS, params, prepare=True)
    ]


@dataclass(frozen=True)
class PairCandidate:
    """The best battle of a pair for an annotator: an existing one (`battle_id`), or the two outputs of a
    battle still to create. `held`: places its battles hold in the task (votes and recent serves)."""

    prompt_id: int
    low: int  # the pair's contender ids, low < high
    high: int
    output_low_id: int
    output_high_id: int
    battle_id: int | None
    held: int
    battle: Battle | None = None  # the existing battle with its prompt and answers loaded (same statement)

    @property
    def outputs(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(output id, contender id) of each side."""
        return (self.output_low_id, self.low), (self.output_high_id, self.high)


# The pair's prompts both contenders answered without an identity leak, with the pair's battle there in each A/B
# order (either may be missing): the full statement's first step, and what a process keeps a copy of
# (`pair_answers`) for the ordered pick.
_PAIR_ANSWERS = """
SELECT ol.prompt_id, ol.id AS output_low_id, oh.id AS output_high_id,
       (SELECT b.id FROM arena_battle b WHERE b.output_a_id = ol.id AND b.output_b_id = oh.id) AS b1,
       (SELECT b.id FROM arena_battle b WHERE b.output_a_id = oh.id AND b.output_b_id = ol.id) AS b2
  FROM arena_output ol
  JOIN arena_output oh ON oh.prompt_id = ol.prompt_id AND oh.contender_id = %(high)s
 WHERE ol.contender_id = %(low)s AND ol.identity_leak = '' AND oh.identity_leak = ''
   AND ol.prompt_id IN (SELECT p.id FROM arena_prompt p WHERE p.prompt_set_id = %(prompt_set)s)
"""

# Every prompt of the set that both contenders answered without naming their model, with the pair's
# battles there (in either A/B order) unless the annotator was served one of them. Ordered as selection
# wants: battles short of the votes wanted first, those with the most places held first (so battles reach
# the votes wanted), then the least held; ties in an order drawn per call (`shuffle`).
# Each battle is looked up by its unique (output_a, output_b) index, in both orders, rather than joined: a join
# may scan every battle of the arena. MATERIALIZED: PostgreSQL would otherwise inline the subqueries and
# count each battle's places once per reference to `held` below. Each battle of the pair (b1, b2) is probed on
# its own, with an equality on every column of (annotator, battle) and the leading two of (battle, task, state):
# with `battle_id IN (b1, b2)`, or with NOT EXISTS (which PostgreSQL turns into an anti-join), a planner
# without statistics read all of the annotator's, or the task's, assignments once per candidate prompt.
# The chosen row comes with its battle, prompt and answers when the battle exists (primary-key probes after the
# LIMIT): the page needs them, and a second statement cost a serve as much as these four probes many times over.
_PAIR_CANDIDATE = f"""
WITH answers AS MATERIALIZED ({_PAIR_ANSWERS}), c AS MATERIALIZED (
    SELECT a.prompt_id, a.output_low_id, a.output_high_id, COALESCE(a.b1, a.b2) AS battle_id,
           (SELECT COUNT(*) FROM arena_assignment x
             WHERE x.battle_id = a.b1 AND x.task_id = %(task)s
               AND (x.state = %(voted)s OR (x.state = %(served)s AND x.served_at >= %(fresh)s)))
         + (SELECT COUNT(*) FROM arena_assignment x
             WHERE x.battle_id = a.b2 AND x.task_id = %(task)s
               AND (x.state = %(voted)s OR (x.state = %(served)s AND x.served_at >= %(fresh)s))) AS held
      FROM answers a
     WHERE (SELECT COUNT(*) FROM arena_assignment m WHERE m.annotator_id = %(annotator)s AND m.battle_id = a.b1)
         + (SELECT COUNT(*) FROM arena_assignment m WHERE m.annotator_id = %(annotator)s AND m.battle_id = a.b2) = 0
)
SELECT best.*, {_BATTLE_SELECT}
  FROM (SELECT c.prompt_id, %(low)s AS low, %(high)s AS high, c.output_low_id, c.output_high_id, c.battle_id,
               c.held
          FROM c
         ORDER BY CASE WHEN c.held < %(wanted)s THEN 0 ELSE 1 END,
                  CASE WHEN c.held < %(wanted)s THEN -c.held ELSE c.held END,
                  ((c.prompt_id %% {SHUFFLE_MODULUS}) * %(shuffle)s) %% {SHUFFLE_MODULUS}
         LIMIT 1) best
  LEFT JOIN arena_battle b ON b.id = best.battle_id
  LEFT JOIN arena_prompt p ON p.id = b.prompt_id
  LEFT JOIN arena_output oa ON oa.id = b.output_a_id
  LEFT JOIN arena_output ob ON ob.id = b.output_b_id
"""


def pair_candidate(
    *, task: AnnotationTask, annotator_id: int, pair: tuple[int, int], fresh_since: datetime, shuffle: int
) -> PairCandidate | None:
    """The pair's best battle for this annotator (see _PAIR_CANDIDATE), or None when they have been served
    every battle of the pair. `shuffle` in [1, 2147483646] orders ties; `fresh_since`: serves older than
    this no longer hold a place."""
    low, high = pair
    params = {
        "task": task.pk, "prompt_set": task.prompt_set_id, "annotator": annotator_id, "low": low, "high": high,
        "wanted": task.votes_per_battle, "fresh": connection.ops.adapt_datetimefield_value(fresh_since), "shuffle": shuffle,
        "voted": Assignment.State.VOTED, "served": Assignment.State.SERVED,
    }  # fmt: skip
    rows = _query(_PAIR_CANDIDATE, params)
    if not rows:
        return None
    row = rows[0]
    fields = {name: row[name] for name in ("prompt_id", "low", "high", "output_low_id", "output_high_id",
                                             "battle_id", "held")}  # fmt: skip
    # The existing battle comes with the candidate (one statement, not a second read once it is picked).
    return PairCandidate(**fields, battle=_battle(row) if row["b_id"] is not None else None)


# --- the pair's best battle from held places counted in Redis (arena.voting.held_places) ----------------

# The pair's prompts and battles, as `_PAIR_ANSWERS` above reads them; they change only when answers or
# battles are added or removed, or an answer is found to leak its model's identity. Kept per process for
# PAIR_ANSWERS_SECONDS: they only order the candidates, and the statement that picks one checks every rule
# again (`_PAIR_PICK`), so a stale copy can change which battle comes first, never serve one it must not.
PAIR_ANSWERS_SECONDS = 60
PAIR_PICK_LIMIT = 32  # candidates checked in one statement; past them, the full statement decides
PAIR_ANSWERS_KEPT = 1024  # pairs whose copies a process keeps (then it starts again)
_pair_answers_kept: dict[
    tuple[int, int, int], tuple[float, list[tuple[int, int, int, int | None, int | None]]]
] = {}


def pair_answers(
    prompt_set_id: int, pair: tuple[int, int], *, fresh: bool = False
) -> list[tuple[int, int, int, int | None, int | None]]:
    """(prompt, low's output, high's output, battle low-high, battle high-low) for each prompt of the set both
    contenders answered without an identity leak; from this process's copy when younger than
    PAIR_ANSWERS_SECONDS, unless `fresh` (then read from the database, and the copy renewed)."""
    key = (prompt_set_id, *pair)
    now = time.monotonic()
    kept = None if fresh else _pair_answers_kept.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    with connection.cursor() as cursor:
        cursor.execute(_PAIR_ANSWERS, {"prompt_set": prompt_set_id, "low": pair[0], "high": pair[1]})
        rows = [tuple(row) for row in cursor.fetchall()]
    if len(_pair_answers_kept) >= PAIR_ANSWERS_KEPT:  # bounded: an arena of many contenders has many pairs
        _pair_answers_kept.clear()
    _pair_answers_kept[key] = (now + PAIR_ANSWERS_SECONDS, rows)  # type: ignore[assignment]
    return rows  # type: ignore[return-value]


def pair_answers_forget(prompt_set_id: int, pair: tuple[int, int]) -> None:
    """Read the pair's prompts and battles afresh next time (a battle was created, or a copy was wrong)."""
    _pair_answers_kept.pop((prompt_set_id, *pair), None)


# The first candidate battle, in the caller's order, that the annotator was never served in either A/B order,
# with its prompt and answers and what the caller must check again: the answers' identity leaks, the prompt set,
# the contenders. The opposite-order battle is looked up in the database by the (output_a, output_b) unique
# index, not taken from the caller's copy: it may have been created since (a racing serve, a judge run), and an
# annotator served it must not see the same prompt and answers again with the sides swapped. Each of the two
# battles is probed on the (annotator, battle) index, as in _PAIR_CANDIDATE; a battle deleted since the copy
# is passed over (the join).
_PAIR_PICK = f"""
WITH pick AS (
    SELECT b.id FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS k(id, ord)
      JOIN arena_battle b ON b.id = k.id
     WHERE (SELECT COUNT(*) FROM arena_assignment m WHERE m.annotator_id = %(annotator)s AND m.battle_id = b.id)
         + (SELECT COUNT(*) FROM arena_assignment m
             WHERE m.annotator_id = %(annotator)s
               AND m.battle_id = (SELECT r.id FROM arena_battle r
                                   WHERE r.output_a_id = b.output_b_id AND r.output_b_id = b.output_a_id)) = 0
     ORDER BY k.ord LIMIT 1
)
SELECT {_BATTLE_SELECT}, oa.identity_leak AS oa_leak, ob.identity_leak AS ob_leak
  FROM pick JOIN arena_battle b ON b.id = pick.id {_BATTLE_JOINS}
"""
UNDECIDED = object()  # the pick statement could not decide: run the full one (`pair_candidate`)


def pair_candidate_ordered(
    *, task: AnnotationTask, annotator_id: int, pair: tuple[int, int], held: dict[int, int], shuffle: int
) -> PairCandidate | None | object:
    """`pair_candidate`, its order taken from `held` (places per battle, arena.voting.held_places) and this
    process's copy of the pair's battles: one statement checks the candidates in that order. UNDECIDED when
    it cannot tell (a candidate's battle does not exist yet, none of the first PAIR_PICK_LIMIT is unseen, the
    copy was stale, or not PostgreSQL): the caller then runs `pair_candidate`."""
    if connection.vendor != "postgresql":
        return UNDECIDED
    wanted = task.votes_per_battle

    def order(row):
        places = held.get(row[3] or 0, 0) + held.get(row[4] or 0, 0)
        short = places < wanted
        return (
            0 if short else 1,
            -places if short else places,
            ((row[0] % SHUFFLE_MODULUS) * shuffle) % SHUFFLE_MODULUS,
        )

    answers = pair_answers(task.prompt_set_id, pair)
    ids, rows = [], {}
    for row in heapq.nsmallest(PAIR_PICK_LIMIT, answers, key=order):  # sorted's first ones, in O(n)
        if row[3] is None and row[4] is None:
            break  # its battle is created when picked: the full statement does that
        battle_id = row[3] if row[3] is not None else row[4]
        ids.append(battle_id)
        rows[battle_id] = row
    if not ids:
        return UNDECIDED
    found = _query(_PAIR_PICK, {"ids": ids, "annotator": annotator_id}, prepare=True)
    if not found:
        return UNDECIDED
    picked = found[0]
    chosen = rows.get(picked["b_id"])
    sides = {
        (picked["b_output_a_id"], picked["b_contender_a_id"]),
        (picked["b_output_b_id"], picked["b_contender_b_id"]),
    }
    if (
        chosen is None or picked["oa_leak"] or picked["ob_leak"] or picked["p_prompt_set_id"] != task.prompt_set_id
        or sides != {(chosen[1], pair[0]), (chosen[2], pair[1])}
    ):  # fmt: skip
        pair_answers_forget(task.prompt_set_id, pair)  # stale: an answer now leaks, or it changed
        return UNDECIDED
    places = held.get(chosen[3] or 0, 0) + held.get(chosen[4] or 0, 0)
    return PairCandidate(
        prompt_id=chosen[0], low=pair[0], high=pair[1], output_low_id=chosen[1], output_high_id=chosen[2],
        battle_id=picked["b_id"], held=places, battle=_battle(picked),
    )  # fmt: skip


# --- the vote's optional rows ---------------------------------------------------------------------------

_DIMENSION_COLUMNS = ("id", "slug", "name", "rubric", "position")
_VOTE_DIMENSIONS = f"""
SELECT {_select("d", "d_", _DIMENSION_COLUMNS)}
  FROM arena_dimension d
  JOIN arena_promptset_vote_dimensions pd ON pd.dimension_id = d.id
 WHERE pd.promptset_id = %(prompt_set)s AND d.is_active AND d.slug <> 'overall'
 ORDER BY d.position, d.slug
"""


def prompt_set_vote_dimensions(prompt_set_id: int) -> list[Dimension]:
    """The active dimensions, other than overall, that the prompt set asks voters about, in page order."""
    rows = _query(_VOTE_DIMENSIONS, {"prompt_set": prompt_set_id})
    return [_instance(Dimension, row, "d_", _DIMENSION_COLUMNS) for row in rows]


# --- progress -------------------------------------------------------------------------------------------

_GOAL = f"""
WITH {_ELIGIBLE}
SELECT COALESCE(SUM(per_prompt.n * (per_prompt.n - 1) / 2), 0) AS battles
  FROM (SELECT COUNT(*) AS n FROM arena_output o JOIN arena_prompt p ON p.id = o.prompt_id
         WHERE p.prompt_set_id = %(prompt_set)s AND o.contender_id IN (SELECT id FROM eligible)
         GROUP BY o.prompt_id) per_prompt
"""


def task_battle_count(*, task_id: int, prompt_set_id: int) -> int:
    """How many battles the task can serve: each pair of its contenders on each prompt both answered."""
    params = {"task": task_id, "prompt_set": prompt_set_id, "approved": Contender.Status.APPROVED}
    return int(_query(_GOAL, params, prepare=True)[0]["battles"])


# The people's overall votes on the battles this voter voted on; per battle, the others' counted votes by
# outcome; a majority where one outcome has the most. The rule is arena.voting.stats.agreement_with_majority.
# On PostgreSQL the others' votes are looked up battle by battle (LATERAL, on the once-per-voter index that
# leads with the battle): as a join, a planner without fresh statistics reads every people's verdict of the
# arena and matches them to the voter's few battles, a cost that grows with the arena on every serve. SQLite
# (the demo) has no LATERAL and looks each battle up by index anyway.
_OVERALL_PEOPLE = """
       AND v.dimension_id = (SELECT id FROM arena_dimension WHERE slug = 'overall')
       AND v.source_id = (SELECT id FROM arena_source WHERE key = 'people')"""
# The same conditions, the source's written `+ 0` so that it cannot pick an index: the others' votes are read
# battle by battle, on the once-per-voter index (battle, dimension, ...). Without it, with the table's size
# known but no statistics of its columns, the generic plan of the prepared statement read all the people's
# overall verdicts through the source's index once per battle of the voter (147,660 rows for 2,880 on 60
# battles: tests/arena/test_voting_serve_prepared.py). The dimension stays usable: written `+ 0` too, each
# battle's verdicts in every dimension and source were read (16,980 rows there).
_OVERALL_PEOPLE_BY_BATTLE = """
       AND v.dimension_id = (SELECT id FROM arena_dimension WHERE slug = 'overall')
       AND v.source_id + 0 = (SELECT id FROM arena_source WHERE key = 'people')"""
_OTHERS = "v.voter_key <> %(voter_key)s AND v.outcome IS NOT NULL AND NOT v.excluded"
_TALLY = {
    "postgresql": f"""
    SELECT m.battle_id, m.outcome AS mine, o.outcome, o.n
      FROM mine m
     CROSS JOIN LATERAL (
        SELECT v.outcome, COUNT(*) AS n FROM arena_verdict v
         WHERE v.battle_id = m.battle_id AND {_OTHERS} {_OVERALL_PEOPLE_BY_BATTLE}
         GROUP BY v.outcome
     ) o""",
    "other": f"""
    SELECT v.battle_id, m.outcome AS mine, v.outcome, COUNT(*) AS n
      FROM arena_verdict v JOIN mine m ON m.battle_id = v.battle_id
     WHERE {_OTHERS} {_OVERALL_PEOPLE}
     GROUP BY v.battle_id, m.outcome, v.outcome""",
}
# The annotator's votes (in all, and today) and skips: three counts on their assignments.
_TOTALS_SELECT = """
  (SELECT COUNT(*) FROM arena_assignment WHERE annotator_id = %(annotator)s AND state = %(voted)s) AS total,
  (SELECT COUNT(*) FROM arena_assignment
    WHERE annotator_id = %(annotator)s AND state = %(voted)s AND answered_at >= %(today)s) AS today,
  (SELECT COUNT(*) FROM arena_assignment WHERE annotator_id = %(annotator)s AND state = %(skipped)s) AS skipped"""
# Each battle's leading outcomes ranked in one pass (a window), and counted with the voter's own outcome carried
# along: joining the tally with its own per-battle maximum, then the majority with the voter's votes, made
# PostgreSQL (which estimates one row per CTE) loop over one for every row of the other, a cost growing with
# the square of the voter's battles (1.1 ms at 38 battles, `bench/profile_votes.py --sql`).
# `after`: only the voter's verdicts newer than that id (0: all of them), for a figure stored earlier
# (arena.voting.agreement_cache) to which their later battles are added; `last_verdict` is the newest id read.
_PROGRESS = """
WITH mine AS MATERIALIZED (
    SELECT v.id, v.battle_id, v.outcome FROM arena_verdict v
     WHERE v.voter_key = %(voter_key)s AND v.voter_key <> '' AND v.outcome IS NOT NULL
       AND v.id > CAST(%(after)s AS BIGINT) {overall_people}
), tally AS MATERIALIZED ({tally}
), ranked AS (
    SELECT battle_id, mine, outcome, RANK() OVER (PARTITION BY battle_id ORDER BY n DESC) AS place FROM tally
), majority AS (
    SELECT battle_id, MIN(mine) AS mine, MIN(outcome) AS outcome, COUNT(*) AS leaders
      FROM ranked WHERE place = 1 GROUP BY battle_id
)
SELECT {totals},
  agreement.compared, agreement.agreed,
  (SELECT COALESCE(MAX(id), CAST(%(after)s AS BIGINT)) FROM mine) AS last_verdict,
  (SELECT COUNT(*) FROM mine) AS counted
  FROM (SELECT COUNT(*) AS compared, COALESCE(SUM(CASE WHEN outcome = mine THEN 1 ELSE 0 END), 0) AS agreed
          FROM majority WHERE leaders = 1) agreement
"""
_PROGRESS_BY_VENDOR = {
    vendor: _PROGRESS.format(overall_people=_OVERALL_PEOPLE, tally=tally, totals=_TOTALS_SELECT)
    for vendor, tally in _TALLY.items()
}


@dataclass(frozen=True)
class ProgressCounts:
    total: int
    today: int
    skipped: int
    compared: int  # battles where the other people's votes have a majority
    agreed: int  # ... and it is this voter's outcome
    last_verdict: int  # the id of the newest of the voter's verdicts counted (`after` when none was)
    counted: int  # how many of the voter's verdicts the agreement looked at (those newer than `after`)


def progress_counts(annotator: Annotator, today_since: datetime, *, after: int = 0) -> ProgressCounts:
    """The annotator's votes (in all, and since `today_since`), skips, and agreement with the majority of the
    other people's counted overall votes on the battles they voted on, in one statement. With `after`, the
    agreement counts only the battles of the voter's verdicts newer than that id, so the others' votes are
    probed for those battles alone rather than for the voter's whole history (the counts are always whole)."""
    params = {
        "annotator": annotator.pk, "voter_key": annotator.voter_key, "after": after,
        "today": connection.ops.adapt_datetimefield_value(today_since),
        "voted": Assignment.State.VOTED, "skipped": Assignment.State.SKIPPED,
    }  # fmt: skip
    sql = _PROGRESS_BY_VENDOR.get(connection.vendor, _PROGRESS_BY_VENDOR["other"])
    return ProgressCounts(**_query(sql, params, prepare=True)[0])
