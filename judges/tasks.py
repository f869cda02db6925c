"""Celery tasks of the judges app: thin, take ids, call a service. All run on the "judge" queue
(CELERY_TASK_ROUTES sends `judges.*` there); run it on a threads pool sized for the judge configs' limits.

`acks_late` (with reject-on-worker-lost, set globally): a worker killed mid-call never acknowledged its
message, and the row it claimed is recovered by `judges.sweep` once its lease runs out. Retry limits live in
the database (`attempts`), not in Celery, so every path that re-runs an item counts against the same limit.
"""

from celery import shared_task
from celery.signals import task_postrun
from django.db import close_old_connections

from judges.services.enqueue import leaderboard_recompute_now_on_commit
from judges.services.generation import generation_run
from judges.services.judging import judgment_run, judgments_run
from judges.services.juries import juries_refresh
from judges.services.reconcile import campaigns_sweep


@shared_task(name="judges.judge", bind=True, acks_late=True, max_retries=None)
def judge_task(self, judgment_id: int) -> str:
    result = judgment_run(judgment_id=judgment_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(name="judges.judge_batch", acks_late=True)
def judge_batch_task(judgment_ids: list[int]) -> None:
    """Several judgments, one after the other (`judgments_run`); one that must wait (backoff, busy limit)
    becomes its own delayed `judges.judge` task as soon as it is known. A batch redelivered after a crash skips
    what is already done."""

    def retry(judgment_id: int, seconds: float) -> None:
        judge_task.apply_async((judgment_id,), countdown=seconds)

    judgments_run(judgment_ids, on_retry=retry)


@shared_task(name="judges.generate", bind=True, acks_late=True, max_retries=None)
def generate_task(self, generation_id: int) -> str:
    result = generation_run(generation_id=generation_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(name="judges.sweep", acks_late=True)
def sweep_task() -> int:
    return len(campaigns_sweep())


@shared_task(name="judges.juries_refresh", acks_late=True)
def juries_refresh_task() -> dict:
    """Recompute every active jury from its members' verdicts (sent when a judge campaign finishes, and by
    beat every JUDGES_JURY_REFRESH_SECONDS for the people's votes learned weights follow); when any jury's
    verdicts changed, ask for a leaderboard refit. Idempotent: a redelivery finds nothing to change."""
    refreshed = juries_refresh()
    if any(r.created or r.changed or r.removed for r in refreshed.values()):
        leaderboard_recompute_now_on_commit()
    return {slug: [r.created, r.changed, r.removed, r.order_choices] for slug, r in refreshed.items()}


@task_postrun.connect
def _close_unusable_connections(**kwargs) -> None:
    # CELERY_DB_REUSE_MAX (set with the judges' settings) keeps worker threads' connections across tasks;
    # this restores Django's own rule for them after every task: drop one that broke or outlived
    # DB_CONN_MAX_AGE, as a web request would.
    close_old_connections()
