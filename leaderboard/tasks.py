"""Celery tasks of the leaderboard: thin, routed to the "ratings" queue by name (see CELERY_TASK_ROUTES)."""

import logging
import threading
import time

from celery import current_app, shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import connection

from leaderboard.services.battle_styles import battles_preload
from leaderboard.services.board_jobs import board_jobs_work
from leaderboard.services.coalescing import recompute_coalesced

logger = logging.getLogger(__name__)


@shared_task(name="leaderboard.recompute_all")
def recompute_all(trigger: str = "schedule") -> dict:
    """Beat's schedule and finished judge campaigns send this by name. Skips the work when nothing changed
    since the last run; joins (and re-runs once after) a recompute already running."""
    return recompute_coalesced(trigger=trigger, force=False, fanout=True).summary()


@shared_task(name="leaderboard.recompute")
def recompute(trigger: str = "request") -> dict:
    """Sent by `recompute_request` (staff button, API, CLI) at most once at a time; always recomputes."""
    return recompute_coalesced(trigger=trigger, force=True, from_queue=True, fanout=True).summary()


@shared_task(name="leaderboard.fit_boards")
def fit_boards(run_id: int) -> int:
    """Sent as a group by a fanned-out recompute (leaderboard.services.fanout): fit the run's boards until
    none is left to claim. Idempotent: a task arriving after the run finished finds nothing and returns."""
    return board_jobs_work(run_id=run_id)


# --- Warm start --------------------------------------------------------------------------------------------
# A worker that serves "ratings" reads the battles style control needs into memory as soon as it starts, in a
# background thread, rather than in its first recompute. Prefork workers do it in each child (where tasks
# run); thread and solo pools in the worker process itself.


def _serves_ratings() -> bool:
    return settings.LEADERBOARD_STYLE_CONTROL and "ratings" in current_app.amqp.queues.consume_from


def _preload_in_background() -> None:
    def preload() -> None:
        started = time.monotonic()
        try:
            held = battles_preload()
            logger.info("Battle table warmed: %d battles in %.1f s", held, time.monotonic() - started)
        except Exception:  # a warm-up is an optimisation: the first recompute reads what it needs anyway
            logger.exception("Warming the battle table failed; the first recompute will read the battles")
        finally:
            connection.close()  # this thread's own connection

    threading.Thread(target=preload, name="battle-table-warmup", daemon=True).start()


@worker_process_init.connect
def _warm_prefork_child(**_kwargs) -> None:
    if _serves_ratings():
        _preload_in_background()


@worker_ready.connect
def _warm_pool_in_process(sender=None, **_kwargs) -> None:
    from celery.concurrency.prefork import TaskPool

    pool = getattr(sender, "pool", None)
    if _serves_ratings() and not isinstance(pool, TaskPool):
        _preload_in_background()
