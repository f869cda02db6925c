"""Units of paid work: one judge call on one battle order (`Judgment`), one answer generation (`Generation`).

Both share the work protocol of `judges.services.work_protocol`: a row is created pending before anything is
enqueued, claimed by a conditional UPDATE (pending → running, with a fresh `claim_token` and a lease) that
must change exactly one row, and finished by an UPDATE conditioned on that token. The claim is the audit row
written before the outbound call: a worker that dies mid-call leaves the row running, with `attempts`
counted, until the sweeper reclaims it once `lease_until` has passed.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q


class WorkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    PARSE_FAILED = "parse_failed", "Parse failure"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (WorkStatus.PENDING, WorkStatus.RUNNING)
_STATUS_VALUES = [value for value, _ in WorkStatus.choices]


class ErrorKind(models.TextChoices):
    NONE = "", "None"
    TRANSIENT = "transient", "Transient (retried)"
    PERMANENT = "permanent", "Permanent"
    PARSE = "parse", "Unparseable reply"


class WorkItem(models.Model):
    """Fields every claimable unit of work has. Units: `latency_ms` of the last successful exchange (both
    calls when a repair was needed); tokens and `cost` (US dollars) add up over every attempt, paid or not."""

    # Indexed through the (campaign, status) index below, not on its own: every claim and result rewrites
    # the row, and each index is one more write on those hot updates.
    campaign = models.ForeignKey(
        "judges.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(max_length=12, choices=WorkStatus.choices, default=WorkStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    raw_text = models.TextField(blank=True)
    raw_response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=10, choices=ErrorKind.choices, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


def _work_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(condition=Q(status__in=_STATUS_VALUES), name=f"{prefix}_status_valid"),
        models.CheckConstraint(
            condition=~Q(status="running")
            | Q(claim_token__isnull=False, claimed_at__isnull=False, lease_until__isnull=False),
            name=f"{prefix}_running_is_claimed",
        ),
        models.CheckConstraint(
            condition=~Q(status__in=["done", "parse_failed", "failed"]) | Q(finished_at__isnull=False),
            name=f"{prefix}_finished_has_time",
        ),
        models.CheckConstraint(
            condition=~Q(status="failed") | ~Q(error=""), name=f"{prefix}_failure_says_why"
        ),
        models.CheckConstraint(condition=Q(cost__gte=0), name=f"{prefix}_cost_not_negative"),
    ]


class Judgment(WorkItem):
    """One judge version's call on one battle in one order.

    `order` "shown" puts the battle's output A in position A; "swapped" shows output B first. `verdicts` is
    `{dimension slug: "A" | "B" | "tie"}` as the judge said it, i.e. by *position*; `judges.services.consistency`
    maps swapped positions back to the battle's sides. `raw_text` is the first reply, `repair_raw_text` the
    reply to the single repair request (empty when none was needed). `content_key` hashes the version
    fingerprint and every text the judge saw, in order: equal keys mean an identical request.
    """

    class Order(models.TextChoices):
        SHOWN = "shown", "As shown (A first)"
        SWAPPED = "swapped", "Swapped (B first)"

    # Both found through the unique (battle, config_version, order) index.
    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="+", db_index=False)
    config_version = models.ForeignKey(
        "judges.JudgeConfigVersion", on_delete=models.PROTECT, related_name="judgments", db_index=False
    )
    order = models.CharField(max_length=8, choices=Order.choices)
    content_key = models.CharField(max_length=64)
    verdicts = models.JSONField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    repair_raw_text = models.TextField(blank=True)
    parse_error = models.TextField(blank=True)
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["battle", "config_version", "order"], name="judgment_once_per_battle_version_order"
            ),
            models.CheckConstraint(condition=Q(order__in=["shown", "swapped"]), name="judgment_order_valid"),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(verdicts__isnull=False), name="judgment_done_has_verdicts"
            ),
            models.CheckConstraint(
                condition=~Q(status="parse_failed") | ~Q(parse_error=""),
                name="judgment_parse_failure_says_why",
            ),
            *_work_constraints("judgment"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="judgment_campaign_status"),
            models.Index(
                fields=["content_key"], condition=Q(status="done"), name="judgment_reusable_results"
            ),
        ]

    def __str__(self) -> str:
        return f"judgment #{self.pk} battle {self.battle_id} {self.order} ({self.status})"


class Generation(WorkItem):
    """One missing output of a contender with an endpoint, generated through the provider layer."""

    contender = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey("arena.Prompt", on_delete=models.CASCADE, related_name="+")
    output = models.ForeignKey(
        "arena.Output", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contender", "prompt"], name="generation_once_per_output"),
            *_work_constraints("generation"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="generation_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"generation #{self.pk} {self.contender_id} on {self.prompt_id} ({self.status})"
