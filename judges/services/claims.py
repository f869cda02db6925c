"""The claim protocol shared by judgments and generations (see `judges.models.work`).

Every write here is a conditional UPDATE whose row count is the answer: a claim changes exactly one row or
the caller must walk away; a finish or release only lands while the caller's `claim_token` still holds the
row, so a worker whose lease ran out (and whose row was handed to another) cannot overwrite the new result.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from judges.models import Campaign, ErrorKind, WorkStatus


def lease_seconds(timeout_s: float) -> float:
    """The longest a claim may be kept alive: two calls (the answer and one repair) plus a grace for the
    database. Its lease itself is short and renewed while the worker lives (`judges.services.leases`)."""
    return 2 * timeout_s + settings.JUDGES_LEASE_GRACE_SECONDS


def work_claim(model, *, pk: int, lease_s: float) -> uuid.UUID | None:
    """pending → running for one row of a running campaign; the token, or None if someone else has it."""
    token, now = uuid.uuid4(), timezone.now()
    running_campaign = Campaign.objects.filter(pk=OuterRef("campaign_id"), status=Campaign.Status.RUNNING)
    changed = (
        model.objects.filter(pk=pk, status=WorkStatus.PENDING)
        .filter(Exists(running_campaign))
        .update(
            status=WorkStatus.RUNNING,
            claim_token=token,
            claimed_at=now,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=F("attempts") + 1,
        )
    )
    return token if changed == 1 else None


def work_finish(model, *, pk: int, token: uuid.UUID, status: str, **fields) -> bool:
    """running → a final status, only while `token` holds the claim. Fields may use F() expressions."""
    changed = model.objects.filter(pk=pk, status=WorkStatus.RUNNING, claim_token=token).update(
        status=status, finished_at=timezone.now(), lease_until=None, **fields
    )
    return changed == 1


def work_release(model, *, pk: int, token: uuid.UUID, retry_in: float, **fields) -> bool:
    """running → pending, to be retried in `retry_in` seconds (recorded, so the sweeper can tell a row
    waiting for its retry from one whose message was lost)."""
    when = timezone.now() + timedelta(seconds=retry_in)
    changed = model.objects.filter(pk=pk, status=WorkStatus.RUNNING, claim_token=token).update(
        status=WorkStatus.PENDING, claim_token=None, lease_until=None, enqueued_at=when, **fields
    )
    return changed == 1


def work_reclaim_stale(model, *, campaign_id: int) -> list[int]:
    """Hand back rows whose claim outlived its lease (the worker died or hung); returns ids now pending.

    Each row is reset by its own conditional UPDATE, so two sweepers never both reclaim it. A row whose
    worker died `JUDGES_MAX_ATTEMPTS` times fails instead: it may be what kills the worker.
    """
    now = timezone.now()
    stale = model.objects.filter(campaign_id=campaign_id, status=WorkStatus.RUNNING, lease_until__lt=now)
    reclaimed = []
    for pk, attempts in stale.values_list("pk", "attempts"):
        row = model.objects.filter(pk=pk, status=WorkStatus.RUNNING, lease_until__lt=now)
        if attempts >= settings.JUDGES_MAX_ATTEMPTS:
            row.update(
                status=WorkStatus.FAILED,
                finished_at=now,
                lease_until=None,
                error_kind=ErrorKind.TRANSIENT,
                error=f"the worker was lost during each of {attempts} attempts (killed or hung past its lease)",
            )
        elif row.update(status=WorkStatus.PENDING, claim_token=None, lease_until=None, enqueued_at=now):
            reclaimed.append(pk)
    return reclaimed
