"""The vote's own reads and writes, in SQL: where the vote path trades the ORM for speed.

Every vote runs these, so they are shaped for throughput (figures: docs/benchmarks.md): one statement
locks the assignment and its annotator and fetches all the vote needs (task, battle, both contenders, the ids
of the overall dimension and of the people's source); one more (on PostgreSQL) closes the assignment, stores the
annotator's streak and the vote's flags. Compiling the equivalent ORM queries cost more CPU than anything else
in the request. The verdicts themselves are the verdict ledger's (`arena.services.verdicts`): its INSERT
statement runs inside that closing statement.
Rows are read by column name (`arena.sql_rows`): each column's label is the `LockedVote` field it fills.
Table and column names are the models' defaults; tests/arena/test_voting_*.py run it on PostgreSQL, and the
demo command runs it on SQLite (which needs no row locks: its transactions take the database's write lock).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.dateparse import parse_datetime

from arena.models import Assignment, VoteFlag
from arena.models.voting import displayed_choice
from arena.sql_rows import fetch_one_as

# The contenders' names are scalar subqueries rather than joins: PostgreSQL plans every statement anew (Django
# binds parameters on the client), and planning six joined tables cost more than running the statement
# (0.5-0.9 ms against 0.1 ms; four tables and two subqueries: 0.26 ms).
_LOCK = """
SELECT a.id AS assignment_id, a.state, a.left_is_a, a.served_at, a.min_read_ms, a.gold_id, a.outcome,
       a.dimension_outcomes, a.annotator_id, n.voter_key, n.excluded, n.last_choice, n.streak,
       t.slug AS task_slug, t.id AS task_id, t.prompt_set_id, a.battle_id, b.contender_a_id, b.contender_b_id,
       (SELECT ca.name FROM arena_contender ca WHERE ca.id = b.contender_a_id) AS contender_a_name,
       (SELECT cb.name FROM arena_contender cb WHERE cb.id = b.contender_b_id) AS contender_b_name,
       (SELECT d.id FROM arena_dimension d WHERE d.slug = 'overall') AS overall_dimension_id,
       (SELECT s.id FROM arena_source s WHERE s.key = 'people') AS people_source_id,
       EXISTS (SELECT 1 FROM arena_contender c
                WHERE c.id IN (b.contender_a_id, b.contender_b_id)
                  AND ((n.user_id IS NOT NULL AND c.submitted_by_id = n.user_id)
                       OR (n.organization <> '' AND UPPER(c.organization) = UPPER(n.organization))))
         AS conflicts
  FROM arena_assignment a
  JOIN arena_annotator n ON n.id = a.annotator_id
  JOIN arena_annotationtask t ON t.id = a.task_id
  JOIN arena_battle b ON b.id = a.battle_id
 WHERE a.token = %s
"""
_FOR_UPDATE = " FOR UPDATE OF a, n"
_CLOSE_ASSIGNMENT = """
UPDATE arena_assignment SET state = 'voted', answered_at = %s, read_ms = %s, outcome = %s, dimension_outcomes = %s,
       gold_passed = %s, flagged = %s
 WHERE id = %s AND state = 'served'
"""
_STORE_STREAK = "UPDATE arena_annotator SET last_choice = %s, streak = %s WHERE id = %s"
# The field's documented conversion gives each backend the form the ORM stores (naive UTC text on SQLite).
_ANSWERED_AT = Assignment._meta.get_field("answered_at")


@dataclass(frozen=True)
class LockedVote:
    """An assignment as the vote sees it (outcomes in battle A/B terms), locked until the transaction ends."""

    assignment_id: int
    state: str
    left_is_a: bool
    served_at: datetime
    min_read_ms: int
    gold_id: int | None
    outcome: str | None
    dimension_outcomes: dict[str, str]
    annotator_id: int
    voter_key: str
    excluded: bool
    last_choice: str
    streak: int
    task_slug: str
    task_id: int
    prompt_set_id: int
    battle_id: int
    contender_a_id: int
    contender_b_id: int
    contender_a_name: str
    contender_b_name: str
    overall_dimension_id: int | None
    people_source_id: int | None
    # A side is the voter's own contender or their organization's (see arena.voting.conflicts).
    conflicts: bool = False

    def displayed(self, outcome: str) -> str:
        return displayed_choice(outcome, left_is_a=self.left_is_a)

    @property
    def left_name(self) -> str:
        return self.contender_a_name if self.left_is_a else self.contender_b_name

    @property
    def right_name(self) -> str:
        return self.contender_b_name if self.left_is_a else self.contender_a_name


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back text (naive, in UTC); PostgreSQL an aware datetime."""
    when = parse_datetime(value) if isinstance(value, str) else value
    if when is None:
        raise ValueError(f"not a date and time: {value!r}")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _locked_vote(**columns) -> LockedVote:
    """The row of `_LOCK`, by column name, in Python types: SQLite gives booleans as 0/1 and JSON as text."""
    outcomes = columns["dimension_outcomes"]
    return LockedVote(**{
        **columns,
        "left_is_a": bool(columns["left_is_a"]), "excluded": bool(columns["excluded"]),
        "conflicts": bool(columns["conflicts"]), "served_at": _aware(columns["served_at"]),
        "dimension_outcomes": outcomes if isinstance(outcomes, dict) else json.loads(outcomes or "{}"),
    })  # fmt: skip


def _db() -> Any:
    """This thread's default connection, looked up once per call: each attribute read through Django's
    `connection` proxy looks the connection up again (asgiref's Local), dozens of times per vote."""
    return connections[DEFAULT_DB_ALIAS]


def _vote_cursor(connection: Any) -> Any:
    """A cursor for the vote's own statements: on PostgreSQL each is prepared, once per connection.

    Django's psycopg cursors bind parameters on the client, so PostgreSQL parsed, analysed and planned the lock
    and the close on every vote: most of what they cost it (`bench/profile_votes.py --sql`: 1.2 and 1.0 ms of
    backend CPU per vote, against well under 0.1 ms to run them). Their plans are index probes on primary
    keys and unique columns (the token, the user's id, the assignment's id, the verdicts' ON CONFLICT), the
    same for any parameters, so the generic plan PostgreSQL settles on after five runs costs nothing (unlike
    serving's statements, docs/voting-performance.md). A server-binding psycopg cursor on Django's own
    connection (same transaction), wrapped as Django wraps its cursors (its errors and execute wrappers).
    Elsewhere (SQLite, the demo), and while Django logs queries (DEBUG, which turns the lean vote path off,
    or a test's CaptureQueriesContext), Django's own cursor: its query log reads the statement's text from
    psycopg's client-binding cursor, and a server-binding one keeps none (the log would say None)."""
    if connection.vendor != "postgresql" or connection.queries_logged:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_preparing_cursor_class()(connection.connection))


# Serving's statements whose plans do not depend on their parameters use it too (`serve_store.prepared_run`).
prepared_cursor = _vote_cursor


@cache
def _preparing_cursor_class() -> Any:
    """Django's server-binding cursor class, preparing each statement it runs (imported on PostgreSQL only).

    psycopg prepares only while the connection's `prepare_threshold` is a number, and Django leaves it None;
    setting it on the connection would turn psycopg's bookkeeping on for every cursor of it (Django's own
    too, for good: the connection is reused): each statement text counted with its parameters' types (the
    last 100 kept per connection), and a DEALLOCATE ALL after every rollback once anything is prepared. So
    it is 0 only while this cursor executes, and back as it was right after. While it is None psycopg keeps
    its record of what it prepared (`_preparing.PrepareManager`: `get` and `maybe_add_to_cache` then do
    nothing) and still forgets it all, with a DEALLOCATE ALL, when the connection rolls back.

    Every integer is sent as int8 here: a plain int (which psycopg dumps as int2, int4, int8 or numeric by its
    value, and keys a prepared statement by its text and its parameters' types: an id, a reading time or a
    streak past 32767 would prepare the statement once more) and psycopg's Int2 and Int4, in which Django wraps
    the values of its smaller integer fields (`get_db_prep_save`): their binary dumpers pack a value into 16 or
    32 bits, wrapping one out of range (2**32 + 1500 stored as 1500). As int8, PostgreSQL converts it to the
    column's type and refuses one out of range ("integer out of range", a DataError), as it refuses Django's
    own INSERT of it."""
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg.types.numeric import Int2, Int4, Int8Dumper

    base: Any = ServerBindingCursor  # the stubs lack psycopg's cursor methods

    class PreparingCursor(base):
        def __init__(self, connection: Any) -> None:
            super().__init__(connection)
            for integer in (int, Int2, Int4):
                self.adapters.register_dumper(integer, Int8Dumper)

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            raw = self.connection
            previous = raw.prepare_threshold
            raw.prepare_threshold = 0
            try:
                return super().execute(query, params, **kwargs)
            finally:
                raw.prepare_threshold = previous

    return PreparingCursor


def stale_prepared_plan(error: BaseException) -> bool:
    """Whether `error` (Django's or psycopg's) is PostgreSQL refusing a prepared statement whose result's
    column types a migration changed ("cached plan must not change result type"). Known by its SQLSTATE, 0A000
    (feature not supported, raised for much else too), and the server function raising it: the message is
    translated by the server's lc_messages. The statement is not run; psycopg forgets its prepared statements
    when the transaction rolls back, so the vote's transaction, run again, prepares them anew
    (`recording.vote_record`)."""
    while error is not None:
        if getattr(error, "sqlstate", None) == "0A000":
            diag = getattr(error, "diag", None)
            return getattr(diag, "source_function", None) == "RevalidateCachedQuery"
        error = error.__cause__  # type: ignore[assignment]
    return False


def vote_lock(token: str) -> LockedVote | None:
    """Lock and read the assignment behind `token`; None for an unknown token. Call inside a transaction."""
    connection = _db()
    # SQLite (the demo) has no row locks and needs none: its transactions take the database's write lock.
    sql = _LOCK + (_FOR_UPDATE if connection.vendor == "postgresql" else "")
    with _vote_cursor(connection) as cursor:
        cursor.execute(sql, [token])
        return fetch_one_as(cursor, _locked_vote)


# Prefix of the columns `vote_lock_beside` reads besides the vote's: none of LockedVote's fields starts so.
HEAD = "head__"


def vote_lock_beside(
    token: str, head_sql: str, head_params: list[Any]
) -> tuple[dict[str, Any], LockedVote | None] | None:
    """PostgreSQL only, inside a transaction: one row of `head_sql` (a SELECT of at most one row, each column
    labelled `HEAD` + name) and `vote_lock(token)`, in one statement: (the head row by name without the
    prefix, the locked vote or None for an unknown token), or None when `head_sql` finds no row (nothing is
    locked then). The lean vote path reads the signed-in user so: one round trip fewer per vote."""
    sql = f"SELECT h.*, v.* FROM ({head_sql}) h LEFT JOIN LATERAL ({_LOCK}{_FOR_UPDATE}) v ON TRUE"
    connection = _db()
    with _vote_cursor(connection) as cursor:
        cursor.execute(sql, [*head_params, token])
        columns: dict[str, Any] | None = fetch_one_as(cursor, dict)
    if columns is None:
        return None
    head = {name[len(HEAD) :]: columns.pop(name) for name in list(columns) if name.startswith(HEAD)}
    # The LEFT JOIN leaves every vote column NULL for an unknown token (assignment_id never is otherwise).
    return head, (None if columns["assignment_id"] is None else _locked_vote(**columns))


@dataclass(frozen=True)
class Closing:
    """What a vote stores on its assignment (outcomes in battle terms) and on its annotator."""

    answered_at: datetime
    read_ms: int
    outcome: str
    dimension_outcomes: dict[str, str]
    gold_passed: bool | None
    flagged: bool
    last_choice: str
    streak: int


def vote_close(
    vote: LockedVote,
    closing: Closing,
    flags: list[VoteFlag] | None = None,
    verdicts: tuple[str, list[Any]] | None = None,
) -> None:
    """Mark the locked assignment voted, store the annotator's streak (both rows are locked by vote_lock),
    insert the vote's integrity flags (unsaved VoteFlag rows), if any, and run `verdicts`, the verdict
    ledger's INSERT of the vote's verdicts (`verdicts_insert_statement`), if given. On PostgreSQL in one
    statement (data-modifying CTEs): each statement costs the web process more CPU than its work costs
    PostgreSQL."""
    connection = _db()
    answered_at = _ANSWERED_AT.get_db_prep_value(closing.answered_at, connection)
    assignment: list[Any] = [
        answered_at, closing.read_ms, closing.outcome, json.dumps(closing.dimension_outcomes), closing.gold_passed,
        closing.flagged, vote.assignment_id,
    ]  # fmt: skip
    streak: list[Any] = [closing.last_choice, closing.streak, vote.annotator_id]
    flags_sql, flags_params = _flags_insert(flags, connection) if flags else ("", [])
    with _vote_cursor(connection) as cursor:
        if connection.vendor == "postgresql":
            sql = f"WITH closed AS ({_CLOSE_ASSIGNMENT.strip()} RETURNING 1), streak AS ({_STORE_STREAK})"
            if flags_sql:
                sql += f", flags AS ({flags_sql})"
            verdicts_sql, verdicts_params = verdicts or ("", [])
            if verdicts_sql:
                sql += f", verdicts AS ({verdicts_sql})"
            params = [*assignment, *streak, *flags_params, *verdicts_params]
            cursor.execute(f"{sql} SELECT COUNT(*) FROM closed", params)
            closed = cursor.fetchone()[0]
        else:  # SQLite (the demo) has no data-modifying CTEs
            if verdicts:
                cursor.execute(*verdicts)
            cursor.execute(_CLOSE_ASSIGNMENT, assignment)
            closed = cursor.rowcount
            cursor.execute(_STORE_STREAK, streak)
            if flags_sql:
                cursor.execute(flags_sql, flags_params)
        # The lock makes this impossible; fail loudly (the transaction rolls back) rather than lose a vote.
        if closed != 1:
            raise RuntimeError(f"assignment {vote.assignment_id} was not open when its vote was closed")


def dimension_names(slugs) -> dict[str, str]:
    """Slug → name of these dimensions (the reveal names the rows voted on), in one SQL statement."""
    slugs = sorted(slugs)
    if not slugs:
        return {}
    placeholders = ", ".join(["%s"] * len(slugs))
    with _db().cursor() as cursor:
        cursor.execute(f"SELECT slug, name FROM arena_dimension WHERE slug IN ({placeholders})", slugs)
        return dict(cursor.fetchall())


def _flags_insert(flags: list[VoteFlag], connection: Any) -> tuple[str, list[Any]]:
    """The INSERT of the vote's integrity flags (unsaved) in one statement; most bench and bot votes carry one
    (too fast), and the ORM's INSERT compiling cost more than the rest of the vote's writes.
    The columns and their database forms come from the model, as the ORM would store them."""
    fields = [f for f in VoteFlag._meta.concrete_fields if not f.primary_key]
    rows = [[f.get_db_prep_save(f.pre_save(flag, add=True), connection) for f in fields] for flag in flags]
    columns = ", ".join(f'"{f.column}"' for f in fields)  # standard SQL quoting (PostgreSQL and SQLite)
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    return f"INSERT INTO arena_voteflag ({columns}) VALUES {values}", [v for row in rows for v in row]
