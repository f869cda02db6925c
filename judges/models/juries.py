"""Juries: several judge configs combined into one leaderboard source."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Jury(models.Model):
    """A panel of judge configs whose verdicts are combined (majority, or weights learned from people).

    Its verdicts are arena `Verdict` rows under its own `Source` (kind "jury"), derived from the members'
    verdicts by `judges.services.juries.jury_refresh` and rewritten when those change. `weights` records, per
    dimension slug, what the last refresh used: `{"weights": {config slug: w}, "n_fitted": n, "note": why}`.
    """

    class Method(models.TextChoices):
        MAJORITY = "majority", "Majority vote"
        LEARNED = "learned", "Weights learned from people"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.MAJORITY)
    members = models.ManyToManyField("judges.JudgeConfig", related_name="juries")
    source = models.OneToOneField("arena.Source", on_delete=models.PROTECT, related_name="jury")
    weights = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    refreshed = models.DateTimeField(null=True, blank=True)
    # Digest of what the last refresh read (see `jury_inputs_digest`): unchanged, a refresh has nothing to do.
    inputs_digest = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "juries"
        constraints = [
            models.CheckConstraint(condition=Q(method__in=["majority", "learned"]), name="jury_method_valid"),
            models.CheckConstraint(condition=~Q(slug=""), name="jury_slug_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class JuryOrderChoice(models.Model):
    """The jury's combined choice on one battle, dimension and answer order, shaped like a judge's
    `Judgment` verdict: `choice` is positional ("A" the answer shown first, "B" the second, "tie"), and
    `order` "shown" puts the battle's output A first, "swapped" output B. Combined from the members' own
    choices in that order (members with no parsed choice abstain); `n_members` says how many took part.
    Report cards read these for the jury's position figures, as they read judgments for a judge.
    """

    jury = models.ForeignKey(Jury, on_delete=models.CASCADE, related_name="order_choices")
    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="+", db_index=False)
    dimension = models.ForeignKey("arena.Dimension", on_delete=models.PROTECT, related_name="+")
    order = models.CharField(max_length=8, choices=[("shown", "As shown"), ("swapped", "Swapped")])
    choice = models.CharField(max_length=4)
    n_members = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["jury", "battle", "dimension", "order"], name="jury_choice_once_per_order"
            ),
            models.CheckConstraint(condition=Q(order__in=["shown", "swapped"]), name="jury_choice_order"),
            models.CheckConstraint(condition=Q(choice__in=["A", "B", "tie"]), name="jury_choice_label"),
            models.CheckConstraint(condition=Q(n_members__gte=1), name="jury_choice_has_members"),
        ]

    def __str__(self) -> str:
        return f"{self.jury_id}/{self.battle_id}/{self.dimension_id}/{self.order}: {self.choice}"
