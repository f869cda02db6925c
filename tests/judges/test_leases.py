"""Short leases kept alive by the worker that holds them (judges.services.leases)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from judges.models import Judgment
from judges.services.leases import lease_kept, leases_renew
from judges.services.limits import Slot, concurrency_slot, limits_backend
from judges.services.work_protocol import work_claim
from tests.judges.conftest import make_arena, make_judge, start_campaign


def test_a_held_claim_is_renewed_and_one_nobody_holds_lapses(transactional_db, stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    kept, left = Judgment.objects.filter(campaign=campaign).order_by("pk")
    kept_token = work_claim(Judgment, pk=kept.pk, lease_s=1)
    left_token = work_claim(Judgment, pk=left.pk, lease_s=1)
    with lease_kept(Judgment, token=kept_token, slot=None, hard_s=60):
        assert leases_renew() == 1
    kept.refresh_from_db()
    left.refresh_from_db()
    # 2 s of slack: the two timestamps are taken a few statements apart on a shared machine.
    assert kept.lease_until > timezone.now() + timedelta(seconds=settings.JUDGES_LEASE_SECONDS - 2)
    assert left.lease_until < timezone.now() + timedelta(seconds=2)
    assert leases_renew() == 0  # the block ended: the claim is no longer held
    with lease_kept(Judgment, token=left_token, slot=None, hard_s=0):  # past its hard bound: left to lapse
        assert leases_renew() == 0


def test_a_renewed_concurrency_slot_outlives_its_first_hold(db):
    key = f"lease-test-{uuid.uuid4().hex}"
    with concurrency_slot(key, limit=1, hold_s=1, wait_s=0) as slot:
        assert slot.acquired
        limits_backend().renew(key, slot.token, 30)
        time.sleep(1.2)  # the first hold (1 s) has run out
        other = uuid.uuid4().hex
        assert limits_backend().try_acquire(key, 1, 1, other) == 0.0  # still held: renewed
    assert isinstance(slot, Slot)
