"""Moving a campaign through its states: pause, resume (and retry failures), cancel, finish, halt a judge.

Each action is one conditional UPDATE on the campaign and returns whether it changed anything, so a double
click or a repeated API call is harmless.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from judges.models import ACTIVE_STATUSES, Campaign, ErrorKind, Generation, Judgment, WorkStatus
from judges.services.consistency import campaign_settle_missing
from judges.services.enqueue import leaderboard_recompute_on_commit, work_enqueue


def work_model(campaign: Campaign):
    return Generation if campaign.kind == Campaign.Kind.GENERATE else Judgment


def campaign_pause(*, campaign: Campaign) -> bool:
    """Stop claiming new work. Calls already in flight finish and are stored (they are paid for)."""
    changed = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
        status=Campaign.Status.PAUSED
    )
    return changed == 1


def campaign_resume(*, campaign: Campaign, retry_failed: bool = True) -> bool:
    """Run again a paused campaign, or a finished one with failures: failed items (errors, not parse
    failures, which are results) go back to pending, and every pending item is queued again (tasks that
    arrived while paused were consumed without effect). Returns whether there was anything to do."""
    model = work_model(campaign)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status == Campaign.Status.CANCELLED:
            return False
        if retry_failed:
            failed = model.objects.filter(campaign=locked, status=WorkStatus.FAILED)
            failed.update(status=WorkStatus.PENDING, attempts=0, error="", error_kind="", finished_at=None)
        pending = list(
            model.objects.filter(campaign=locked, status=WorkStatus.PENDING).values_list("pk", flat=True)
        )
        if not pending and locked.status != Campaign.Status.PAUSED:
            return False
        Campaign.objects.filter(pk=locked.pk).update(
            status=Campaign.Status.RUNNING, finished_at=None, last_error=""
        )
        model.objects.filter(pk__in=pending).update(enqueued_at=timezone.now())
        work_enqueue(campaign=locked, ids=pending)
    if not pending:
        campaign_finish_if_done(campaign_id=campaign.pk)
    return True


def campaign_cancel(*, campaign: Campaign) -> bool:
    """Cancel for good: pending items are cancelled; running calls finish and are kept."""
    with transaction.atomic():
        changed = Campaign.objects.filter(
            pk=campaign.pk, status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED]
        ).update(status=Campaign.Status.CANCELLED, finished_at=timezone.now())
        if changed:
            work_model(campaign).objects.filter(campaign=campaign, status=WorkStatus.PENDING).update(
                status=WorkStatus.CANCELLED
            )
    return changed == 1


def campaign_finish_if_done(*, campaign_id: int, model=None) -> bool:
    """running → finished once no item is pending or running; the one caller whose UPDATE lands asks the
    leaderboard to recompute. Every item calls this after its own final write, so the last one sees none
    left (each checks after committing its own status). `model` saves a query when the caller knows it."""
    if model is None:
        model = work_model(Campaign.objects.only("kind").get(pk=campaign_id))
    if model.objects.filter(campaign_id=campaign_id, status__in=ACTIVE_STATUSES).exists():
        return False
    if model is Judgment:
        campaign_settle_missing(campaign_id=campaign_id)
    with transaction.atomic():
        changed = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.FINISHED, finished_at=timezone.now()
        )
        if changed and model is Judgment:
            leaderboard_recompute_on_commit()
    return changed == 1


def campaign_items_halt(*, campaign_id: int, message: str, **scope) -> int:
    """Fail every pending item of one judge or endpoint (`scope`, e.g. `config_version_id=...` or
    `contender_id=...`) with the error that makes all of them pointless (bad key, unknown model); the
    message is shown on the campaign page."""
    campaign = Campaign.objects.only("kind").get(pk=campaign_id)
    items = work_model(campaign).objects.filter(campaign_id=campaign_id, status=WorkStatus.PENDING, **scope)
    failed = items.update(
        status=WorkStatus.FAILED,
        error=message,
        error_kind=ErrorKind.PERMANENT,
        finished_at=timezone.now(),
    )
    Campaign.objects.filter(pk=campaign_id).update(last_error=message)
    return failed
