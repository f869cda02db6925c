"""Running the judges' hand-written statements in Django's connection and transaction, rows read by name.

Why hand-written statements at all: building a query costs the ORM about 2 ms of CPU, ten times what the
statement costs to run, and the per-call path of a judge runs several of them per call. Everything else in
the app uses the ORM.

Rows come back as named tuples built from the cursor's column names (`row.status`, never `row[1]`; psycopg's
`namedtuple_row` on PostgreSQL, `arena.sql_rows` elsewhere), so a SELECT's columns can be reordered or added
to without breaking a reader. Parameters go through their model field's public `get_db_prep_save`, so dates,
UUIDs, decimals and JSON reach each backend (PostgreSQL, or SQLite for the demo) as the ORM would save them.

On PostgreSQL a statement runs on a server-binding psycopg cursor over Django's own connection (same
transaction), prepared once per connection: the parameters (stored replies are the long part) travel apart
from the SQL instead of being escaped into it in Python, and no statement is planned twice.
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from arena.sql_rows import fetch_all_as


@dataclass(frozen=True)
class SqlResult:
    rowcount: int
    rows: list[Any]  # named tuples, one field per column of the result

    def one(self) -> Any | None:
        return self.rows[0] if self.rows else None


def sql_run(sql: str, params: list) -> SqlResult:
    """Run one statement in the default connection's current transaction."""
    connection = connections[DEFAULT_DB_ALIAS]  # this thread's, looked up once
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = _named_rows(cursor) if cursor.description else []
            # sqlite3 counts the rows of an UPDATE … RETURNING only once they have all been fetched.
            return SqlResult(cursor.rowcount, rows)
    import psycopg
    from psycopg.rows import namedtuple_row

    connection.ensure_connection()
    raw = connection.connection
    # Errors still come out as Django's (IntegrityError, ...) and mark the connection like Django's own.
    with connection.wrap_database_errors, psycopg.Cursor(raw, row_factory=namedtuple_row) as cursor:
        # psycopg prepares only while the connection's threshold is a number; Django leaves it None, and left
        # at 0 it would turn psycopg's bookkeeping on for Django's own cursors of this (reused) connection
        # too (each statement text counted, a DEALLOCATE ALL after each rollback). While None psycopg keeps
        # its record of what it prepared (arena.voting.vote_store._preparing_cursor_class).
        previous = raw.prepare_threshold
        raw.prepare_threshold = 0
        try:
            cursor.execute(sql, params, prepare=True)
        finally:
            raw.prepare_threshold = previous
        # The result's status, not `cursor.description`: that builds a Column object per column, every time.
        result = cursor.pgresult
        rows = cursor.fetchall() if result is not None and result.status == _tuples_ok() else []
        return SqlResult(cursor.rowcount, rows)


@cache
def _tuples_ok() -> int:
    from psycopg import pq

    return pq.ExecStatus.TUPLES_OK


def _named_rows(cursor) -> list[Any]:
    return fetch_all_as(cursor, _row_type(tuple(column[0] for column in cursor.description)))


@cache
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names)  # noqa: PYI024 (built at run time from the cursor's column names)


def db_value(model: type[Model], name: str, value: Any) -> Any:
    """`value` as the database wants it for `model`'s field `name`, as the ORM would save it (None is SQL
    NULL, also for JSON fields; a model instance stands for its key)."""
    if value is None:
        return None
    kind = type(value)
    if kind in _PLAIN_VALUES and _is_plain(model, name, kind.__name__):
        return value  # what get_db_prep_save would return for it, without the walk through the field's layers
    if kind is Decimal and not value.is_finite():
        # Refused on every path: passed through below, PostgreSQL's numeric would store a NaN as it is.
        raise ValueError(
            f"{model.__name__}.{name} cannot be {value}: only finite numbers are stored (a cost comes from "
            "its judge config's prices per million tokens: check that they are numbers)"
        )
    if (
        kind in _NATIVE_ON_POSTGRESQL
        and (kind is not datetime or value.tzinfo is not None)  # a naive one is made aware by the field
        and _on_postgresql()
        and _is_plain(model, name, kind.__name__)
    ):
        return value
    if isinstance(value, Model):
        value = value.pk
    elif isinstance(value, Enum):  # TextChoices members: their value, whatever the driver does with enums
        value = value.value
    return _field(model, name).get_db_prep_save(value, connections[DEFAULT_DB_ALIAS])


# Field types whose saved form of a plain Python value of the listed type is that value itself; on
# PostgreSQL also of an aware datetime, a UUID and a Decimal (psycopg adapts them, Django's PostgreSQL
# operations hand them over unchanged; elsewhere they become text).
_PLAIN_VALUES = frozenset({str, int, bool})
_NATIVE_ON_POSTGRESQL = frozenset({datetime, uuid.UUID, Decimal})
_PLAIN_FIELDS = {
    "str": frozenset({"CharField", "TextField", "SlugField"}),
    "int": frozenset({"IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
                    "PositiveBigIntegerField", "PositiveSmallIntegerField", "AutoField", "BigAutoField"}),
    "bool": frozenset({"BooleanField"}),
    "datetime": frozenset({"DateTimeField"}),
    "UUID": frozenset({"UUIDField"}),
    "Decimal": frozenset({"DecimalField"}),
}  # fmt: skip


@cache
def _on_postgresql() -> bool:
    """The default database's vendor, once per process (looking the connection up is not free)."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


@cache
def _is_plain(model: type[Model], name: str, kind: str) -> bool:
    field = _field(model, name)
    if field.is_relation:  # a foreign key is saved as its target's key
        field = field.target_field
    return field.get_internal_type() in _PLAIN_FIELDS[kind]


@cache
def _field(model: type[Model], name: str) -> Any:
    return model._meta.get_field(name)


def db_column(model: type[Model], name: str) -> str:
    return _field(model, name).column


def db_table(model: type[Model]) -> str:
    return model._meta.db_table
