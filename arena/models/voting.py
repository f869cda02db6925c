"""Human preference annotation: tasks staff open, the people who vote, and each battle served to one of them.

A vote becomes `Verdict` rows (source = the people); the rows here keep what a verdict cannot: which side the
annotator saw on the left, when the battle was served, skips, attention checks and integrity flags.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from arena.models.verdicts import Outcome


def displayed_choice(outcome: str, *, left_is_a: bool) -> str:
    """A battle-terms outcome as the annotator saw it: 'left', 'right', 'tie' or 'both_bad'."""
    if outcome == Outcome.A:
        return "left" if left_is_a else "right"
    if outcome == Outcome.B:
        return "right" if left_is_a else "left"
    return outcome


class AnnotationTask(models.Model):
    """A prompt set × contenders that people are asked to vote on, with guidelines and attention checks."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    prompt_set = models.ForeignKey(
        "arena.PromptSet", on_delete=models.PROTECT, related_name="annotation_tasks"
    )
    # Empty means every approved contender with answers in the prompt set.
    contenders = models.ManyToManyField("arena.Contender", blank=True, related_name="+")
    votes_per_battle = models.PositiveSmallIntegerField(
        default=3,
        help_text="Votes wanted on each battle; at least 2, so agreement between people can be measured.",
    )
    guidelines = models.TextField(
        blank=True, help_text="Markdown, shown to annotators before and during voting."
    )
    inconsistent_first = models.BooleanField(
        default=False,
        help_text=(
            "Serve disputed battles before any other: judges disagree with each other, or a judge "
            "was inconsistent across the two answer orders."
        ),
    )
    gold_rate = models.FloatField(
        default=0.1, help_text="Share of served battles drawn from the gold battles."
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_active", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(votes_per_battle__gte=2), name="task_votes_per_battle_at_least_2"
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0.0, gold_rate__lte=1.0), name="task_gold_rate_in_unit_interval"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class GoldBattle(models.Model):
    """A battle with a known right answer, mixed into a task as an attention check.

    `expected` is in the battle's own A/B terms, whatever side the annotator is shown.
    """

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="gold_battles")
    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="+")
    expected = models.CharField(max_length=10, choices=Outcome.choices)
    explanation = models.TextField(blank=True, help_text="Why this is the right answer (for staff).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "battle"], name="gold_battle_once_per_task"),
            models.CheckConstraint(condition=Q(expected__in=Outcome.values), name="gold_expected_valid"),
        ]

    def __str__(self) -> str:
        return f"gold {self.battle_id} ({self.expected}) in {self.task_id}"


class Annotator(models.Model):
    """One person voting: a signed-in user ("u:<id>") or an anonymous session ("s:<hash>").

    `voter_key` is the `Verdict.voter_key` of their votes. `last_choice`/`streak` track the same button
    pressed in a row (in displayed sides, which is what a careless voter repeats).
    """

    voter_key = models.CharField(max_length=80, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotator"
    )
    organization = models.CharField(
        max_length=200, blank=True,
        help_text="Set by staff: this person is never served (nor counted on) contenders of this organization.",
    )  # fmt: skip
    excluded = models.BooleanField(
        default=False, help_text="Their votes are kept but left out of ratings, now and later."
    )
    excluded_reason = models.CharField(max_length=200, blank=True)
    excluded_at = models.DateTimeField(null=True, blank=True)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_choice = models.CharField(max_length=10, blank=True)
    streak = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["voter_key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(voter_key__startswith="u:") | Q(voter_key__startswith="s:"),
                name="annotator_voter_key_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.user.get_username() if self.user_id and self.user else self.voter_key


class Assignment(models.Model):
    """One battle served to one annotator, addressed in the browser only by an opaque random `token`.

    `left_is_a` is drawn independently of the battle's A/B order; outcomes stored here are in battle terms.
    The constraints make the database, not the code, refuse a second vote or the same battle twice.
    """

    class State(models.TextChoices):
        SERVED = "served", "Served"
        VOTED = "voted", "Voted"
        SKIPPED = "skipped", "Skipped"

    token = models.CharField(max_length=40, unique=True)
    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="assignments")
    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="vote_assignments")
    gold = models.ForeignKey(
        GoldBattle, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    left_is_a = models.BooleanField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.SERVED)
    served_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    # Reading time the answers need (from their length), and the time the annotator actually took.
    min_read_ms = models.PositiveIntegerField(default=0)
    read_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, null=True, blank=True)  # noqa: DJ001 - NULL until voted, checked by a constraint
    dimension_outcomes = models.JSONField(default=dict, blank=True)
    gold_passed = models.BooleanField(null=True, blank=True)
    flagged = models.BooleanField(default=False)
    # Served before others because LLM judges disputed the battle (the task's "Inconsistent first"): such
    # battles are not a fair sample of the judges' battles, so the calibrated judge boards leave them out.
    disputed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["annotator", "battle"], name="assignment_battle_once_per_annotator"
            ),
            models.UniqueConstraint(
                fields=["annotator", "task"],
                condition=Q(state="served"),
                name="assignment_one_open_per_annotator_task",
            ),
            models.CheckConstraint(
                condition=Q(state="served", outcome__isnull=True, answered_at__isnull=True)
                | Q(state="voted", outcome__isnull=False, answered_at__isnull=False)
                | Q(state="skipped", outcome__isnull=True, answered_at__isnull=False),
                name="assignment_state_consistent",
            ),
            models.CheckConstraint(
                condition=Q(outcome__isnull=True) | Q(outcome__in=Outcome.values),
                name="assignment_outcome_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["task", "state"], name="assignment_task_state"),
            models.Index(fields=["annotator", "state", "answered_at"], name="assignment_annotator_progress"),
            # Places a battle holds in a task (serving counts them per candidate battle): found by battle,
            # never by scanning the task's assignments, whatever the planner's statistics say.
            models.Index(fields=["battle", "task", "state"], name="assignment_battle_task_state"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} · battle {self.battle_id} · {self.state}"

    def displayed(self, outcome: str) -> str:
        return displayed_choice(outcome, left_is_a=self.left_is_a)


class VoteFlag(models.Model):
    """Something suspicious about one vote, for staff to review. The vote itself is stored and counted."""

    class Kind(models.TextChoices):
        TOO_FAST = "too_fast", "Faster than the reading time"
        SAME_CHOICE = "same_choice", "Same button many times in a row"
        GOLD_FAILED = "gold_failed", "Failed an attention check"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "kind"], name="vote_flag_once_per_kind"),
            models.CheckConstraint(
                condition=Q(kind__in=["too_fast", "same_choice", "gold_failed"]), name="vote_flag_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail}"
