"""Parameters of the judges' hand-written statements reach the database as the ORM would save them
(judges.services.sql.db_value), including the values passed straight through without the field's layers."""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from judges.models import Judgment, PaidCall
from judges.services.sql import db_value, sql_run

pytestmark = pytest.mark.django_db

CASES = [
    (Judgment, "claimed_at", datetime(2026, 12, 6, 17, 0, tzinfo=UTC)),
    (Judgment, "claim_token", uuid.uuid4()),
    (PaidCall, "cost", Decimal("0.00012345")),
    (Judgment, "cost", Decimal(3)),
    (Judgment, "status", "running"),
    (Judgment, "attempts", 2),
]


@pytest.mark.parametrize(("model", "name", "value"), CASES)
def test_a_value_is_saved_as_its_field_would_save_it(model, name, value):
    expected = model._meta.get_field(name).get_db_prep_save(value, connection)
    got = db_value(model, name, value)
    assert got == expected
    if isinstance(
        value, datetime | uuid.UUID | Decimal
    ):  # (an int may come back as psycopg's Int2: same value)
        assert type(got) is type(expected)


def test_a_naive_datetime_still_goes_through_its_field():
    naive = datetime(2026, 12, 6, 17, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Django warns about naive datetimes
        expected = Judgment._meta.get_field("claimed_at").get_db_prep_save(naive, connection)
        got = db_value(Judgment, "claimed_at", naive)
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN")]
)
def test_a_decimal_that_is_not_a_finite_number_is_refused_with_a_clear_error(value):
    # Passed straight to psycopg, PostgreSQL's numeric would store a NaN silently.
    with pytest.raises(ValueError, match=r"PaidCall\.cost cannot be .*only finite numbers are stored"):
        db_value(PaidCall, "cost", value)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_a_prepared_statement_leaves_the_connections_prepare_threshold_as_it_was():
    # Left at 0 it turned psycopg's preparing bookkeeping on for Django's own cursors of the reused connection.
    connection.ensure_connection()
    before = connection.connection.prepare_threshold
    statement = "SELECT %s::int + 1 AS answer"
    for _ in range(2):
        assert sql_run(statement, [1]).one().answer == 2
        assert connection.connection.prepare_threshold is before
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
            [statement.replace("%s", "$1")],
        )
        assert cursor.fetchone()[0] == 1  # prepared once, and used again
