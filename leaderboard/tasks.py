"""Celery tasks of the leaderboard: thin, routed to the "ratings" queue by name (see CELERY_TASK_ROUTES)."""

from celery import shared_task

from leaderboard.services.coalescing import recompute_coalesced


@shared_task(name="leaderboard.recompute_all")
def recompute_all(trigger: str = "schedule") -> dict:
    """Beat's schedule and finished judge campaigns send this by name. Skips the work when nothing changed
    since the last run; joins (and re-runs once after) a recompute already running."""
    return recompute_coalesced(trigger=trigger, force=False).summary()


@shared_task(name="leaderboard.recompute")
def recompute(trigger: str = "request") -> dict:
    """Sent by `recompute_request` (staff button, API, CLI) at most once at a time; always recomputes."""
    return recompute_coalesced(trigger=trigger, force=True, from_queue=True).summary()
