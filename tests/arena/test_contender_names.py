"""Contender slugs and names: unique whatever their case, and a taken one is refused with a neutral message
that reveals nothing about contenders still pending review."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction

from arena.models import ApiToken, Contender
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(alice):
    _, token = ApiToken.issue(user=alice, name="t")
    return {"Authorization": f"Bearer {token}"}


def _register(client, auth, **payload):
    return client.post("/api/contenders", payload, content_type="application/json", headers=auth)


@pytest.mark.parametrize("status", ["pending", "approved"])
def test_a_taken_slug_gets_the_same_neutral_answer_whoever_holds_it(client, auth, bob, status):
    factories.make_contender("secret-model", status=status, user=bob)
    response = _register(client, auth, slug="secret-model", name="Mine")
    assert response.status_code == 400
    assert response.json() == {
        "error": "The slug 'secret-model' is not available (slugs are compared ignoring case): choose another slug.",
        "field": "slug",
    }
    assert Contender.objects.count() == 1


def test_case_variants_of_a_slug_are_refused(client, auth):
    factories.make_contender("my-model")
    response = _register(client, auth, slug="My-Model", name="Another")
    assert response.status_code == 400 and "'My-Model' is not available" in response.json()["error"]
    assert list(Contender.objects.values_list("slug", flat=True)) == ["my-model"]


def test_duplicate_names_are_refused_ignoring_case(client, auth):
    factories.make_contender("first", name="Llama Three")
    response = _register(client, auth, slug="second", name="LLAMA three")
    assert response.status_code == 400
    assert (
        response.json()["field"] == "name"
        and "The name 'LLAMA three' is not available" in response.json()["error"]
    )
    assert Contender.objects.count() == 1


def test_the_page_shows_the_neutral_message(alice_client, bob):
    factories.make_contender("hidden-one", status="pending", user=bob)
    response = alice_client.post("/contenders/new/", {"slug": "HIDDEN-ONE", "name": "Mine"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "The slug &#x27;HIDDEN-ONE&#x27; is not available (slugs are compared ignoring case)" in html
    assert "Hidden-One" not in html and "Pending review" not in html  # nothing about the holder
    assert Contender.objects.count() == 1


@pytest.mark.parametrize(("field", "value"), [("slug", "ABC"), ("name", "abc model")])
def test_the_database_refuses_case_variants_too(field, value):
    factories.make_contender("abc", name="ABC Model")
    values = {"slug": "other", "name": "Other", field: value}
    with pytest.raises(IntegrityError), transaction.atomic():
        Contender.objects.create(**values)


def test_the_migration_renames_existing_case_variants_before_adding_the_constraints(db):
    migration = importlib.import_module("arena.migrations.0006_integrity_and_security")
    with transaction.atomic():
        # Rows as they could exist before the migration: drop the new indexes inside this transaction only.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX contender_slug_unique_ignoring_case")
            cursor.execute("DROP INDEX contender_name_unique_ignoring_case")
        factories.make_contender("dup", name="Dup")
        factories.make_contender("DUP", name="dup")
        migration.case_variants_renamed(apps, None)
        rows = sorted(Contender.objects.values_list("slug", "name"))
        transaction.set_rollback(True)
    assert rows == [("DUP-2", "dup 2"), ("dup", "Dup")]
