"""The serve's statements read their column names once per process (arena.voting.serve_store.column_names):
the names by statement text, a row of another length read afresh, and the copy bounded."""

import pytest
from django.db import connection

from arena.voting import serve_store

pytestmark = pytest.mark.django_db


def test_rows_by_name_and_names_kept_by_statement_text():
    first = "SELECT 1 AS one, 'x' AS ex WHERE %(on)s"
    second = "SELECT 2 AS two WHERE %(on)s"
    assert serve_store._query(first, {"on": True}) == [{"one": 1, "ex": "x"}]
    assert serve_store._query(second, {"on": True}) == [{"two": 2}]
    assert serve_store._column_names_kept[first] == ["one", "ex"]
    assert serve_store._column_names_kept[second] == ["two"]
    assert serve_store._query(first, {"on": False}) == []  # no row: nothing to name
    assert serve_store._query(first, {"on": True}) == [{"one": 1, "ex": "x"}]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ALTER TABLE ... ADD COLUMN in a test: PostgreSQL"
)
def test_a_row_of_another_length_reads_the_names_again():
    """A `*` over a table a migration changed: the same text now returns more columns. Without the length check
    the kept names would be zipped with the longer row (an error), or name the wrong values."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE names_probe (a integer, b integer)")
        cursor.execute("INSERT INTO names_probe VALUES (1, 2)")
    sql = "SELECT * FROM names_probe WHERE a = %(a)s"
    assert serve_store._query(sql, {"a": 1}) == [{"a": 1, "b": 2}]
    assert serve_store._query(sql, {"a": 1}, prepare=True) == [{"a": 1, "b": 2}]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE names_probe ADD COLUMN c integer DEFAULT 3")
    assert serve_store._query(sql, {"a": 1}) == [{"a": 1, "b": 2, "c": 3}]
    assert serve_store._column_names_kept[sql] == ["a", "b", "c"]


def test_the_copy_is_bounded(monkeypatch):
    monkeypatch.setattr(serve_store, "COLUMN_NAMES_KEPT", 2)
    monkeypatch.setattr(serve_store, "_column_names_kept", {})
    for n in range(5):
        assert serve_store._query(f"SELECT {n} AS n{n}", {}) == [{f"n{n}": n}]
        assert len(serve_store._column_names_kept) <= 2
