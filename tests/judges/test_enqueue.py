"""How a campaign's judgments are split into Celery tasks."""

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


@override_settings(JUDGES_TASK_BATCH=16)
def test_batches_keep_both_orders_of_a_battle_together_until_the_one_judgment_tail():
    ids = list(range(2000))  # battle by battle: ids 2k and 2k + 1 are one battle's two orders
    batches = judgment_batches(ids, in_flight=64)
    split = [batch for batch in batches if len(batch) > 1 and (batch[0] % 2 or len(batch) % 2)]
    assert not split, f"batches that split a battle's orders: {split[:3]}"
    assert max(len(b) for b in judgment_batches(ids, in_flight=1, cap=3)) == 3  # an odd cap is still used


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
