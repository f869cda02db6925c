"""Campaigns: a batch of judge calls (or answer generations) started by staff, with its plan and estimate."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Campaign(models.Model):
    """Contenders × prompt set × judge versions × pairing plan, or (kind "generate") missing outputs.

    Status moves running → paused ⇄ running → finished, or to cancelled; `campaign_finish_if_done` is the
    only writer of "finished". The estimate is stored as shown before starting, so it can be compared with
    the actual spend.
    """

    class Kind(models.TextChoices):
        JUDGE = "judge", "Judge battles"
        GENERATE = "generate", "Generate outputs"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished"

    class Plan(models.TextChoices):
        ALL_PAIRS = "all-pairs", "All pairs"
        BASELINE = "baseline", "Each against a baseline"
        RANDOM_K = "random-k", "k random opponents per prompt"
        ADAPTIVE = "adaptive", "Adaptive: most overlapping rating intervals"
        MISSING_OUTPUTS = "missing-outputs", "Missing outputs (generation)"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.JUDGE)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    prompt_set = models.ForeignKey("arena.PromptSet", on_delete=models.PROTECT, related_name="+")
    contenders = models.ManyToManyField("arena.Contender", related_name="+")
    judges = models.ManyToManyField("judges.JudgeConfigVersion", blank=True, related_name="campaigns")
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.ALL_PAIRS)
    baseline = models.ForeignKey(
        "arena.Contender", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    k = models.PositiveSmallIntegerField(default=1)
    seed = models.IntegerField(default=0)
    est_calls = models.PositiveIntegerField(default=0)
    est_reused = models.PositiveIntegerField(default=0)
    est_tokens_in = models.PositiveBigIntegerField(default=0)
    est_tokens_out = models.PositiveBigIntegerField(default=0)
    est_cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    already_judged = models.PositiveIntegerField(default=0)
    # The latest error that stopped a whole judge (bad key, unknown model), shown on the campaign page.
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["judge", "generate"]), name="campaign_kind_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["running", "paused", "cancelled", "finished"]),
                name="campaign_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind="generate", plan="missing-outputs")
                | Q(kind="judge", plan__in=["all-pairs", "baseline", "random-k", "adaptive"]),
                name="campaign_plan_fits_kind",
            ),
            models.CheckConstraint(
                condition=~Q(plan="baseline") | Q(baseline__isnull=False), name="campaign_baseline_named"
            ),
            models.CheckConstraint(condition=Q(k__gte=1), name="campaign_k_positive"),
            models.CheckConstraint(
                condition=Q(status="finished", finished_at__isnull=False) | ~Q(status="finished"),
                name="campaign_finished_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.RUNNING, self.Status.PAUSED)
