"""Recovery: bring running campaigns back to a state where every unfinished item has a task coming.

Run by Celery beat (`judges.sweep`, every `JUDGES_SWEEP_SECONDS`), by `manage.py judge sweep`, and by
`judge start --wait` while it waits. Each step is safe to repeat and to run in several processes at once:

1. Claims past their lease (the worker was SIGKILLed, lost its host, or hung) go back to pending and are
   queued again; a late reply from the old worker cannot land, because finishing needs its claim token.
2. Pending items whose message was lost (it sat prefetched in a killed worker, unacknowledged; Redis would
   redeliver it only after the broker's visibility timeout) are queued again once the campaign has made no
   progress for `JUDGES_REQUEUE_STALLED_SECONDS` and has nothing running. Waiting for a stall keeps a long,
   healthy queue from being duplicated; a duplicate would be harmless anyway, since only one claim per row can land.
3. Battles whose two orders are done but which have no final verdict (a worker died between the two
   writes) are settled; finishing a campaign does this too, so no battle is left behind.
4. A campaign with nothing pending or running is marked finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from judges.models import Campaign, WorkStatus
from judges.services.consistency import campaign_settle_missing
from judges.services.enqueue import work_enqueue
from judges.services.lifecycle import campaign_finish_if_done, work_model
from judges.services.work_protocol import work_reclaim_stale


@dataclass(frozen=True)
class Reconciled:
    reclaimed: int = 0
    requeued: int = 0
    settled: int = 0
    finished: bool = False


def campaigns_sweep() -> dict[int, Reconciled]:
    ids = Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("pk", flat=True)
    return {pk: campaign_reconcile(campaign_id=pk) for pk in ids}


def campaign_reconcile(*, campaign_id: int) -> Reconciled:
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING).first()
    if campaign is None:
        return Reconciled()
    model = work_model(campaign)
    reclaimed = work_reclaim_stale(model, campaign_id=campaign.pk)
    requeued = _requeue_if_stalled(model, campaign)
    work_enqueue(campaign=campaign, ids=reclaimed + requeued)
    settled = campaign_settle_missing(campaign_id=campaign.pk) if campaign.kind == Campaign.Kind.JUDGE else 0
    finished = campaign_finish_if_done(campaign_id=campaign.pk)
    return Reconciled(len(reclaimed), len(requeued), settled, finished)


def _requeue_if_stalled(model, campaign: Campaign) -> list[int]:
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.JUDGES_REQUEUE_STALLED_SECONDS)
    items = model.objects.filter(campaign=campaign)
    last = items.aggregate(claimed=Max("claimed_at"), finished=Max("finished_at"))
    latest = max(t for t in (last["claimed"], last["finished"], campaign.created) if t is not None)
    if latest > cutoff or items.filter(status=WorkStatus.RUNNING).exists():
        # Still moving, or calls in flight (their leases are live: lapsed ones were reclaimed just before):
        # pending items are most likely just waiting in the queue.
        return []
    lost = items.filter(status=WorkStatus.PENDING, enqueued_at__lt=cutoff)
    ids = list(lost.values_list("pk", flat=True))
    model.objects.filter(pk__in=ids, status=WorkStatus.PENDING).update(enqueued_at=now)
    return ids
