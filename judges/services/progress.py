"""Live progress of a campaign, for the polling fragment, the API and the CLI: a handful of aggregate
queries, whatever the size of the campaign."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from judges.models import Campaign, FinalVerdict, PaidCall, WorkStatus
from judges.services.lifecycle import work_model

RATE_WINDOW_S = 20.0


@dataclass
class Progress:
    """Counts of work items by status; `rate` is items finished per second over the last 20 s."""

    status: str
    total: int = 0
    pending: int = 0
    running: int = 0
    done: int = 0
    reused: int = 0
    parse_failed: int = 0
    failed: int = 0
    cancelled: int = 0
    spend: Decimal = Decimal(0)
    calls: int = 0
    calls_unanswered: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    rate: float = 0.0
    eta_s: float | None = None
    final_verdicts: int = 0
    inconsistent: int = 0
    errors: list[dict] = field(default_factory=list)
    retrying: list[dict] = field(default_factory=list)

    def percent(self, count: int) -> float:
        return round(100.0 * count / self.total, 2) if self.total else 0.0

    @property
    def settled(self) -> int:
        return self.done + self.parse_failed + self.failed + self.cancelled

    def as_dict(self) -> dict:
        data = asdict(self)
        data["spend"] = float(self.spend)
        return data


def campaign_progress(*, campaign: Campaign) -> Progress:
    model = work_model(campaign)
    items = model.objects.filter(campaign=campaign)
    progress = Progress(status=campaign.status)
    for row in items.values("status").annotate(
        n=Count("pk"), cost=Sum("cost"), t_in=Sum("tokens_in"), t_out=Sum("tokens_out")
    ):
        setattr(progress, row["status"], row["n"])
        progress.total += row["n"]
        progress.spend += row["cost"] or Decimal(0)
        progress.tokens_in += row["t_in"] or 0
        progress.tokens_out += row["t_out"] or 0
    _add_ledger(progress, campaign)
    _add_rate(progress, campaign, items)
    progress.errors = _errors(items.filter(status=WorkStatus.FAILED))
    progress.retrying = _errors(items.filter(status=WorkStatus.PENDING).exclude(error=""))
    if campaign.kind == Campaign.Kind.JUDGE:
        progress.reused = items.filter(reused_from__isnull=False).count()
        finals = FinalVerdict.objects.filter(campaign=campaign).aggregate(
            total=Count("pk"), inconsistent=Count("pk", filter=Q(inconsistent=True))
        )
        progress.final_verdicts, progress.inconsistent = finals["total"], finals["inconsistent"]
    return progress


def _add_ledger(progress: Progress, campaign: Campaign) -> None:
    """Spend from the ledger of paid calls, which also counts calls whose result never landed (a worker
    killed after paying, a row reclaimed and answered twice); campaigns from before the ledger keep the
    items' own sum."""
    ledger = PaidCall.objects.filter(campaign=campaign).aggregate(
        calls=Count("pk"),
        unanswered=Count("pk", filter=Q(outcome=PaidCall.Outcome.SENT)),
        cost=Sum("cost"),
        t_in=Sum("tokens_in"),
        t_out=Sum("tokens_out"),
    )
    if not ledger["calls"]:
        return
    progress.calls, progress.calls_unanswered = ledger["calls"], ledger["unanswered"]
    progress.spend = ledger["cost"] or Decimal(0)
    progress.tokens_in, progress.tokens_out = ledger["t_in"] or 0, ledger["t_out"] or 0


def _add_rate(progress: Progress, campaign: Campaign, items) -> None:
    now = timezone.now()
    window = min(RATE_WINDOW_S, max(1.0, (now - campaign.created).total_seconds()))
    recent = items.filter(finished_at__gte=now - timedelta(seconds=window)).count()
    progress.rate = round(recent / window, 2)
    left = progress.pending + progress.running
    if progress.rate > 0 and left and campaign.status == Campaign.Status.RUNNING:
        progress.eta_s = round(left / progress.rate, 1)


def _errors(items, limit: int = 5) -> list[dict]:
    rows = items.values("error").annotate(n=Count("pk")).order_by("-n", "error")[:limit]
    return [{"message": row["error"], "count": row["n"]} for row in rows]
