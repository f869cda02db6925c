"""The final, order-checked verdict of one judge version on one battle and dimension."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class FinalVerdict(models.Model):
    """Both orders agreed (`outcome` is theirs) or disagreed (`outcome` tie, `inconsistent`).

    Written only when both judgments of the battle are done: when either order failed or could not be
    parsed there is no final verdict for that battle (it is counted as failed), because one order alone
    would bring back the position bias the second order is there to cancel.

    `verdict` is the arena Verdict this outcome was recorded as, under the judge config's Source. The arena
    keeps one verdict per (battle, dimension, source): when an older version of the same config already
    recorded one, that verdict stays (verdicts keep the version they came from) and `verdict` is NULL here.
    The unique constraint on `verdict` makes "which version produced this verdict" a single row.
    """

    # Insert-only and written once per battle on the judging hot path: no single-column index where the
    # unique and campaign indexes below already lead with the column, or where it only serves deletions.
    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="+", db_index=False)
    dimension = models.ForeignKey(
        "arena.Dimension", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    config_version = models.ForeignKey(
        "judges.JudgeConfigVersion", on_delete=models.PROTECT, related_name="final_verdicts"
    )
    campaign = models.ForeignKey(
        "judges.Campaign", on_delete=models.CASCADE, related_name="final_verdicts", db_index=False
    )
    outcome = models.CharField(max_length=4)
    inconsistent = models.BooleanField(default=False)
    shown = models.ForeignKey("judges.Judgment", on_delete=models.CASCADE, related_name="+", db_index=False)
    swapped = models.ForeignKey("judges.Judgment", on_delete=models.CASCADE, related_name="+", db_index=False)
    verdict = models.OneToOneField(
        "arena.Verdict", null=True, blank=True, on_delete=models.SET_NULL, related_name="judge_origin"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["battle", "dimension", "config_version"], name="final_verdict_once_per_version"
            ),
            models.CheckConstraint(condition=Q(outcome__in=["a", "b", "tie"]), name="final_verdict_outcome"),
            models.CheckConstraint(
                condition=Q(inconsistent=False) | Q(outcome="tie"), name="final_verdict_inconsistent_is_tie"
            ),
            models.CheckConstraint(condition=~Q(shown=models.F("swapped")), name="final_verdict_two_orders"),
        ]
        indexes = [models.Index(fields=["campaign", "inconsistent"], name="final_verdict_campaign")]

    def __str__(self) -> str:
        flag = " (inconsistent)" if self.inconsistent else ""
        return f"battle {self.battle_id}/{self.dimension_id}: {self.outcome}{flag}"
