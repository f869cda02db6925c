"""Sending work items to the "judge" queue, always after the transaction that created them commits.

A worker must never receive an id whose row it cannot see yet; and a rolled-back campaign must send nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from django.conf import settings
from django.db import transaction

from judges.models import Campaign, Judgment


def work_enqueue(
    *, campaign: Campaign, ids: Iterable[int], battles: Sequence[Hashable] | None = None
) -> None:
    """Queue the ids on commit, in small batches (see `judgment_batches`). Duplicates are harmless: only one
    claim can land per row. `battles` (judgments only): each id's battle and judge version, with both orders
    of a battle side by side, as the caller read them; without it they are read here (one statement)."""
    ids = list(ids)
    if not ids:
        return
    if campaign.kind == Campaign.Kind.GENERATE:
        from judges.tasks import generate_task

        transaction.on_commit(lambda: _send_all(generate_task, [(pk,) for pk in ids]))
        return
    from judges.tasks import judge_batch_task

    if battles is None:
        ids, battles = judgments_by_battle(ids)
    chunks = judgment_batches(
        ids, in_flight=_limits_total(campaign), cap=_batch_cap(campaign), battles=battles
    )
    transaction.on_commit(lambda: _send_all(judge_batch_task, [(chunk,) for chunk in chunks]))


# Both orders of a battle (for one judge version) side by side, battle after battle.
BATTLE_ORDER = ("battle_id", "config_version_id", "order")


def judgments_by_battle(ids: Iterable[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """The ids (once each) in `BATTLE_ORDER`, with each one's battle and judge version. An id with no row is
    left out: its judgment is gone, there is nothing to run."""
    rows = (
        Judgment.objects.filter(pk__in=set(ids))
        .order_by(*BATTLE_ORDER)
        .values_list("pk", "battle_id", "config_version_id")
    )
    ordered, battles = [], []
    for pk, battle_id, version_id in rows:
        ordered.append(pk)
        battles.append((battle_id, version_id))
    return ordered, battles


def judgment_batches(
    ids: list[int], *, in_flight: int, cap: int | None = None, battles: Sequence[Hashable] | None = None
) -> list[list[int]]:
    """Split the ids into tasks of shrinking size ("guided" scheduling): each takes half of the work left
    per call in flight, at most `cap` (default `JUDGES_TASK_BATCH`), at least one.

    A task costs a worker some CPU besides its judgments (a few milliseconds, more than a judgment's own
    statements), which adds up at high call rates, so the bulk goes in batches; the queue's last tasks decide
    how long the campaign's tail is (a thread deep in a long batch keeps the limit half used), so they hold a
    judgment or two. Half, not less: a batch taken when R judgments are left then lasts about half as long
    as the R judgments take at the full limit, so it ends before the tail.

    `battles[i]` is the battle of `ids[i]` (a battle's ids side by side): a batch of more than one is cut
    where a battle ends, one longer (within `cap`) or else shorter than its share, so that it holds both
    orders of its battles and the second order's settle settles the battle without reading both again
    (`judging.judgments_run`). Only the one-judgment tail splits them. Without `battles`, every id is its own.
    """
    n, cap = len(ids), max(1, cap if cap is not None else settings.JUDGES_TASK_BATCH)
    if battles is not None and len(battles) != n:
        raise ValueError(f"judgment_batches: {len(battles)} battles given for {n} ids; give one per id")
    ends = _battle_ends(battles, n)
    batches, start = [], 0
    while start < n:
        size = max(1, min(cap, (n - start) // (2 * max(1, in_flight))))
        end = start + size
        if size > 1 and end < n and end not in ends:
            later = next((e for e in range(end + 1, min(n, start + cap) + 1) if e in ends), None)
            earlier = max((e for e in range(start + 1, end) if e in ends), default=None)
            end = later if later is not None else earlier if earlier is not None else end
        batches.append(ids[start:end])
        start = end
    return batches


def _battle_ends(battles: Sequence[Hashable] | None, n: int) -> set[int] | range:
    """The positions where a battle's ids end (where a batch may be cut)."""
    if battles is None:
        return range(n + 1)
    return {i for i in range(1, n) if battles[i] != battles[i - 1]} | {n}


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
