"""Work items' indexes leave the claim free to be a HOT update, and rows still to do have no `finished_at`
(docs/judging-performance.md, "No index on a work item's status")."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from judges.models import Generation, Judgment
from tests.judges.conftest import make_arena, make_judge, start_campaign

pytestmark = pytest.mark.django_db

# What a claim and a lease renewal write (`work_protocol.claim_statement`, `work_renew`).
CLAIM_COLUMNS = {"status", "claim_token", "claimed_at", "lease_until", "attempts"}


def _condition_columns(model) -> set[str]:
    """Columns named by the conditions of the model's partial indexes (a predicate's column counts)."""
    columns: set[str] = set()
    for index in model._meta.indexes:
        if index.condition is not None:
            for child in index.condition.flatten():
                if isinstance(child, tuple):
                    columns.add(model._meta.get_field(child[0].split("__")[0]).column)
    return columns


@pytest.mark.parametrize("model", [Judgment, Generation])
def test_it_indexes_no_column_a_claim_changes(model):
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    indexed = {column for info in found.values() if info["index"] for column in info["columns"]}
    assert indexed, "no index found: the introspection read the wrong table"
    assert not (indexed | _condition_columns(model)) & CLAIM_COLUMNS


@pytest.fixture
def judgment(stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    return Judgment.objects.filter(campaign=campaign).first()


@pytest.mark.parametrize("status", ["pending", "running"])
def test_it_refuses_an_active_row_with_a_finished_at(judgment, status):
    now = timezone.now()
    changes = {"status": status, "finished_at": now}
    if status == "running":  # what the other constraints ask of a running row
        changes |= {"claim_token": uuid.uuid4(), "claimed_at": now, "lease_until": now}
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.filter(pk=judgment.pk).update(**changes)
    judgment.refresh_from_db()
    assert judgment.status == "pending" and judgment.finished_at is None
