"""The ledger of paid calls: one row per request sent to a provider on behalf of a campaign.

A work item's own tokens and cost only land with its result, conditioned on its claim token, so a call
whose worker was killed before storing the result, or whose row was reclaimed and answered again by another
worker, would be paid without being counted. The ledger row is written *before* the request leaves
(`sent`) and completed when the reply arrives (`answered`, with its tokens and cost) or the call fails
(`failed`): a campaign's spend is the sum of its ledger, duplicates included, and a row left `sent` is a
request whose worker died waiting for the reply.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q


class PaidCall(models.Model):
    class Outcome(models.TextChoices):
        SENT = "sent", "Sent, no reply recorded"
        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey("judges.Campaign", on_delete=models.CASCADE, related_name="+")
    item_id = models.BigIntegerField(help_text="The judgment or generation (by the campaign's kind).")
    claim_token = models.UUIDField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SENT)
    sent_at = models.DateTimeField(auto_now_add=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["sent", "answered", "failed"]), name="paid_call_outcome_valid"
            ),
            models.CheckConstraint(condition=Q(cost__gte=0), name="paid_call_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"call for item {self.item_id} of campaign {self.campaign_id} ({self.outcome})"
