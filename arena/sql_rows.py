"""Rows of raw SQL read by column name: each row becomes keyword arguments, named as the SELECT names them.

For the few statements written in SQL for speed: the columns are matched to a dataclass's fields (or any
callable taking keyword arguments) by name, so reordering a SELECT cannot shift a value into the wrong field,
and a column the class does not expect fails loudly (TypeError) instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _names(cursor: Any) -> list[str]:
    """The columns' names (their labels after AS)."""
    # psycopg 3 (Django's cursor wrapper hands the attribute through): the labels straight from the result.
    # Its `description` builds a Column object per column (type look-up and all) on every call, which cost
    # the vote path more than the rest of reading its row.
    result = getattr(cursor, "pgresult", None)
    if result is not None:
        raw = [result.fname(i) for i in range(result.nfields)]
        if all(raw):  # only a COPY result has unnamed columns
            return [name.decode() for name in raw]
    # DB-API 2.0 (SQLite): each description item starts with the column's name.
    return [column[0] for column in cursor.description]


def fetch_one_as(cursor: Any, make: Callable[..., T]) -> T | None:
    """The next row of `cursor` as `make(column=value, ...)`, or None when there is none."""
    row = cursor.fetchone()
    return None if row is None else make(**dict(zip(_names(cursor), row, strict=True)))


def fetch_all_as(cursor: Any, make: Callable[..., T]) -> list[T]:
    """Every remaining row of `cursor`, each as `make(column=value, ...)`."""
    names = _names(cursor)
    return [make(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
