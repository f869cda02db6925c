"""Sending work items to the "judge" queue, always after the transaction that created them commits.

A worker must never receive an id whose row it cannot see yet; and a rolled-back campaign must send nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from judges.models import Campaign


def work_enqueue(*, campaign: Campaign, ids: Iterable[int]) -> None:
    """Queue the ids on commit, in small batches (see `judgment_batches`). Duplicates are harmless: only one
    claim can land per row."""
    ids = list(ids)
    if not ids:
        return
    if campaign.kind == Campaign.Kind.GENERATE:
        from judges.tasks import generate_task

        transaction.on_commit(lambda: _send_all(generate_task, [(pk,) for pk in ids]))
        return
    from judges.tasks import judge_batch_task

    chunks = judgment_batches(ids, in_flight=_limits_total(campaign), cap=_batch_cap(campaign))
    transaction.on_commit(lambda: _send_all(judge_batch_task, [(chunk,) for chunk in chunks]))


def judgment_batches(ids: list[int], *, in_flight: int, cap: int | None = None) -> list[list[int]]:
    """Split the ids into tasks of shrinking size ("guided" scheduling): each takes half of the work left
    per call in flight, at most `cap` (default `JUDGES_TASK_BATCH`), at least one.

    A task costs a worker some CPU besides its judgments (a few milliseconds, more than a judgment's own
    statements), which adds up at high call rates, so the bulk goes in batches; the queue's last tasks decide
    how long the campaign's tail is (a thread deep in a long batch keeps the limit half used), so they hold a
    judgment or two. Half, not less: a batch taken when R judgments are left then lasts about half as long
    as the R judgments take at the full limit, so it ends before the tail.

    An odd size above one is rounded up to even (within `cap`): a campaign's ids come battle by battle, both
    orders side by side, so the batches keep a battle's two orders together, and the second order's settle
    then settles the battle without reading both again (`judging.judgments_run`).
    """
    batches, start, cap = [], 0, max(1, cap if cap is not None else settings.JUDGES_TASK_BATCH)
    while start < len(ids):
        size = max(1, min(cap, (len(ids) - start) // (2 * max(1, in_flight))))
        if size > 1 and size % 2 and size < cap:
            size += 1
        batches.append(ids[start : start + size])
        start += size
    return batches


def _batch_cap(campaign: Campaign) -> int:
    """`JUDGES_TASK_BATCH`, lowered so that a batch whose every call times out twice (answer and repair)
    still ends within the task's soft time limit, instead of being killed with judgments left unclaimed."""
    slowest = max((v.config.timeout_seconds for v in campaign.judges.select_related("config")), default=1)
    fits = int(settings.CELERY_TASK_SOFT_TIME_LIMIT // max(1, 2 * slowest))
    return max(1, min(settings.JUDGES_TASK_BATCH, fits))


def _limits_total(campaign: Campaign) -> int:
    return sum(v.config.concurrency_limit for v in campaign.judges.select_related("config"))


def leaderboard_recompute_on_commit() -> None:
    """Ask the leaderboard app (by task name, on its "ratings" queue) to refit; it is not imported here.

    When a jury exists, its verdicts derive from the judges' that just changed: the juries are refreshed
    first (`judges.juries_refresh`), and that task asks for the refit once they are up to date."""
    from arena.celery import app
    from judges.models import Jury

    task = "judges.juries_refresh" if Jury.objects.exists() else "leaderboard.recompute_all"
    transaction.on_commit(lambda: app.send_task(task))


def leaderboard_recompute_now_on_commit() -> None:
    """The refit alone (after the juries were refreshed)."""
    from arena.celery import app

    transaction.on_commit(lambda: app.send_task("leaderboard.recompute_all"))


def _send_all(task, arguments: list[tuple]) -> None:
    # One pooled producer for all of them: thousands of messages without a connection each.
    with task.app.producer_or_acquire() as producer:
        for args in arguments:
            task.apply_async(args, producer=producer)
