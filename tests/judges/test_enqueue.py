"""How a campaign's judgments are split into Celery tasks."""

from collections import Counter

import pytest
from django.test import override_settings

from judges.services.enqueue import judgment_batches


@override_settings(JUDGES_TASK_BATCH=16)
def test_batches_shrink_towards_the_end_and_cover_every_judgment_once_in_order():
    ids = list(range(2000))
    batches = judgment_batches(ids, in_flight=32)
    assert [pk for batch in batches for pk in batch] == ids
    sizes = [len(batch) for batch in batches]
    assert max(sizes) <= 16 and sizes == sorted(sizes, reverse=True)
    assert sizes[-64:] == [1] * 64  # the last two rounds of the limit go one judgment per task


def split_battles(batches: list[list[int]], battle_of: dict[int, object]) -> list[list[int]]:
    """The batches of more than one judgment that hold one order of a battle without the other."""
    sizes = Counter(battle_of.values())
    return [
        batch
        for batch in batches
        if len(batch) > 1 and any(n != sizes[b] for b, n in Counter(battle_of[pk] for pk in batch).items())
    ]


@pytest.mark.parametrize("cap", [16, 3, 5])
@pytest.mark.parametrize("single_first", [False, True], ids=["paired", "one-order-first"])
def test_batches_keep_both_orders_of_a_battle_together_until_the_one_judgment_tail(cap, single_first):
    # Battle by battle; with `single_first` the first battle has one order left (the other done), which
    # shifts every later pair by one position: batches cut by position split all of them.
    ids = list(range(1 if single_first else 0, 2000))
    battles = [pk // 2 for pk in ids]
    battle_of = dict(zip(ids, battles, strict=True))
    for in_flight in (1, 8, 64):
        batches = judgment_batches(ids, in_flight=in_flight, cap=cap, battles=battles)
        assert [pk for batch in batches for pk in batch] == ids
        assert cap - 1 <= max(len(b) for b in batches) <= cap  # the cap is used, never exceeded
        assert not split_battles(batches, battle_of), f"split: {split_battles(batches, battle_of)[:3]}"


def test_batches_need_one_battle_per_id():
    with pytest.raises(ValueError, match="3 battles given for 2 ids"):
        judgment_batches([1, 2], in_flight=1, battles=[1, 1, 2])


def test_a_small_campaign_is_one_judgment_per_task():
    assert judgment_batches([7, 8, 9], in_flight=8) == [[7], [8], [9]]


def test_the_cap_keeps_a_batch_within_the_task_time_limit():
    ids = list(range(2000))
    assert max(len(b) for b in judgment_batches(ids, in_flight=1, cap=3)) == 3
    assert [pk for batch in judgment_batches(ids, in_flight=1, cap=3) for pk in batch] == ids


@override_settings(JUDGES_TASK_BATCH=16, CELERY_TASK_SOFT_TIME_LIMIT=1500)
def test_slow_judges_get_smaller_batches(db, stub, key_env):
    from judges.services.enqueue import _batch_cap
    from tests.judges.conftest import make_arena, make_judge, start_campaign

    prompt_set, contenders = make_arena(n_prompts=2)
    make_judge("quick", base_url=stub.base_url, timeout_seconds=5)
    make_judge("slow", base_url=stub.base_url, timeout_seconds=120)
    quick = start_campaign(prompt_set, contenders, "quick")
    slow = start_campaign(prompt_set, contenders, "slow")
    assert _batch_cap(quick) == 16  # 2 x 5 s per judgment: 16 fit easily in 1500 s
    assert _batch_cap(slow) == 1500 // (2 * 120)  # = 6: a batch of 16 could run 3840 s


def queued_batches(monkeypatch) -> list[list[int]]:
    """Where the judge batches sent on commit are recorded instead of sent."""
    sent: list[list[int]] = []

    def record(task, arguments):
        if task.name == "judges.judge_batch":
            sent.extend(chunk for (chunk,) in arguments)

    monkeypatch.setattr("judges.services.enqueue._send_all", record)
    return sent


@override_settings(JUDGES_TASK_BATCH=5)  # odd, as `_batch_cap` gives for slow judges
def test_a_campaigns_batches_hold_both_orders_of_a_battle_after_start_resume_and_sweep(
    db, stub, key_env, monkeypatch, django_capture_on_commit_callbacks
):
    from judges.models import Judgment, WorkStatus
    from judges.services.campaigns import CampaignSpec, campaign_start
    from judges.services.judging import judgment_run
    from judges.services.lifecycle import campaign_pause, campaign_resume
    from judges.services.reconcile import campaign_reconcile
    from tests.judges.conftest import make_arena, make_judge

    prompt_set, contenders = make_arena(n_prompts=6, slugs=("alpha", "bravo", "charlie", "delta"))
    make_judge("one-at-a-time", base_url=stub.base_url, concurrency_limit=1)
    sent = queued_batches(monkeypatch)
    spec = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug, judges=["one-at-a-time"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_start(spec=spec)
    judgments = Judgment.objects.filter(campaign=campaign)
    battle_of = {j.pk: (j.battle_id, j.config_version_id) for j in judgments}
    assert max(len(batch) for batch in sent) > 2, "too few judgments for batches of several battles"
    assert sorted(pk for batch in sent for pk in batch) == sorted(battle_of)
    assert not split_battles(sent, battle_of)

    # One order of the first battle is done: the pending ids no longer come in pairs from the first.
    first = judgments.order_by("battle_id", "order").first()
    assert judgment_run(judgment_id=first.pk).outcome == "done"
    campaign_pause(campaign=campaign)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert campaign_resume(campaign=campaign)
    pending = {
        pk: battle_of[pk] for pk in judgments.filter(status=WorkStatus.PENDING).values_list("pk", flat=True)
    }
    assert sorted(pk for batch in sent for pk in batch) == sorted(pending)
    assert max(len(batch) for batch in sent) > 2 and not split_battles(sent, pending)

    # The sweep queues lost messages again (here: every pending one, as stalled at once), the same way.
    sent.clear()
    with (
        override_settings(JUDGES_REQUEUE_STALLED_SECONDS=0),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert campaign_reconcile(campaign_id=campaign.pk).requeued == len(pending)
    assert sorted(pk for batch in sent for pk in batch) == sorted(pending)
    assert max(len(batch) for batch in sent) > 2 and not split_battles(sent, pending)
