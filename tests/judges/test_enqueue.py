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


def test_a_small_campaign_is_one_judgment_per_task():
    assert judgment_batches([7, 8, 9], in_flight=8) == [[7], [8], [9]]
