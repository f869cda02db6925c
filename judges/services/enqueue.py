"""Sending work items to the "judge" queue, always after the transaction that created them commits.

A worker must never receive an id whose row it cannot see yet; and a rolled-back campaign must send nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from judges.models import Campaign


def work_enqueue(*, campaign: Campaign, ids: Iterable[int]) -> None:
    """Queue the ids on commit, in small batches when there are many (see `batch_size`). Duplicates are
    harmless: only one claim can land per row."""
    ids = list(ids)
    if not ids:
        return
    if campaign.kind == Campaign.Kind.GENERATE:
        from judges.tasks import generate_task

        transaction.on_commit(lambda: _send_all(generate_task, [(pk,) for pk in ids]))
        return
    from judges.tasks import judge_batch_task, judge_task

    size = batch_size(len(ids), _limits_total(campaign))
    if size == 1:
        transaction.on_commit(lambda: _send_all(judge_task, [(pk,) for pk in ids]))
    else:
        batches = [(ids[i : i + size],) for i in range(0, len(ids), size)]
        transaction.on_commit(lambda: _send_all(judge_batch_task, batches))


def batch_size(n: int, in_flight: int) -> int:
    """Judgments per task. A task costs the worker about a millisecond of CPU besides its judgments, which
    matters at a hundred and more calls a second; batching is only worth it while there are still several
    tasks per concurrent call, so the last tasks do not leave the limit half used."""
    return max(1, min(settings.JUDGES_TASK_BATCH, n // (4 * max(1, in_flight))))


def _limits_total(campaign: Campaign) -> int:
    return sum(v.config.concurrency_limit for v in campaign.judges.select_related("config"))


def leaderboard_recompute_on_commit() -> None:
    """Ask the leaderboard app (by task name, on its "ratings" queue) to refit; it is not imported here."""
    from arena.celery import app

    transaction.on_commit(lambda: app.send_task("leaderboard.recompute_all"))


def _send_all(task, arguments: list[tuple]) -> None:
    # One pooled producer for all of them: thousands of messages without a connection each.
    with task.app.producer_or_acquire() as producer:
        for args in arguments:
            task.apply_async(args, producer=producer)
