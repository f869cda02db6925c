"""Short leases kept alive by the worker that holds them (judges.services.leases)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from judges.models import Judgment
from judges.services.leases import lease_kept, leases_renew
from judges.services.limits import Slot, SlotCarry, carry_release, concurrency_slot, limits_backend
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


def test_a_carried_slot_is_taken_again_without_a_second_place_and_given_back_at_the_end(db):
    key, backend = f"carry-test-{uuid.uuid4().hex}", limits_backend()
    carry = SlotCarry()
    with concurrency_slot(key, limit=1, hold_s=5, wait_s=0, carry=carry) as first:
        assert first.acquired
    assert carry.held == first  # kept past the block, for the batch's next call
    assert backend.try_acquire(key, 1, 5, uuid.uuid4().hex) == 0.0  # still held
    with concurrency_slot(key, limit=1, hold_s=5, wait_s=0, carry=carry) as second:
        assert second.acquired and second.token == first.token  # its own place, not a second one
    carry_release(carry)
    assert carry.held is None
    other = uuid.uuid4().hex
    assert backend.try_acquire(key, 1, 5, other) == 1.0  # given back
    backend.release(key, 1, other)


def test_a_carried_slot_is_given_back_when_its_judge_cools_down_or_its_block_fails(db):
    key, backend = f"carry-test-{uuid.uuid4().hex}", limits_backend()
    carry = SlotCarry()
    with concurrency_slot(key, limit=1, hold_s=5, wait_s=0, carry=carry):
        pass
    backend.cool_down(key, 2)
    with concurrency_slot(key, limit=1, hold_s=5, wait_s=0, carry=carry) as cooling:
        assert not cooling.acquired and 0 < cooling.retry_in <= 2
    assert carry.held is None
    backend.cool_down(key, 0.001)
    time.sleep(0.01)
    try:
        with concurrency_slot(key, limit=1, hold_s=5, wait_s=0, carry=carry) as slot:
            assert slot.acquired
            raise RuntimeError("the call broke")
    except RuntimeError:
        pass
    assert carry.held is None
    assert backend.try_acquire(key, 1, 5, uuid.uuid4().hex) == 1.0  # nothing left held
