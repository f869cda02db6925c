"""A live battle while it is fought, and the moderation log of what people typed.

A live battle lives here until its vote; the vote turns it into arena data like any other (a prompt of the
live prompt set, two outputs, a battle, the people's verdicts: see live.services.recording). Battles never
voted on (cancelled, failed, abandoned) stay here only, for limits and for staff, and count nowhere.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class LiveBattle(models.Model):
    """Two contenders answering one person's conversation; addressed in the browser by `token` only.

    `turns` are the person's messages; `replies_a`/`replies_b` the contenders' answers, one per turn once the
    turn is answered. Sides: the page shows contender A on the left when `left_is_a`.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for its stream"
        STREAMING = "streaming", "Streaming"
        READY = "ready", "Answered, open for a vote or a follow-up"
        FAILED = "failed", "An endpoint failed (not counted)"
        CANCELLED = "cancelled", "Left during a stream (not counted)"
        VOTED = "voted", "Voted"

    token = models.CharField(max_length=40, unique=True)
    voter_key = models.CharField(max_length=80)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contender_a = models.ForeignKey("arena.Contender", on_delete=models.PROTECT, related_name="+")
    contender_b = models.ForeignKey("arena.Contender", on_delete=models.PROTECT, related_name="+")
    left_is_a = models.BooleanField()
    turns = models.JSONField(default=list)
    replies_a = models.JSONField(default=list)
    replies_b = models.JSONField(default=list)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # For staff: what failed, with the endpoint's own words. Never shown to the person (it names the model).
    failure = models.TextField(blank=True)
    # The phrase of an answer naming its model or vendor: the battle is then stored but not counted.
    identity_leak = models.CharField(max_length=200, blank=True)
    regenerations = models.PositiveSmallIntegerField(default=0)
    battle = models.ForeignKey(
        "arena.Battle", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "streaming", "ready", "failed", "cancelled", "voted"]),
                name="live_battle_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(contender_a=models.F("contender_b")), name="live_battle_two_contenders"
            ),
        ]
        indexes = [
            models.Index(fields=["voter_key", "created"], name="live_battle_voter_created"),
            models.Index(fields=["contender_a", "created"], name="live_battle_a_created"),
            models.Index(fields=["contender_b", "created"], name="live_battle_b_created"),
        ]

    def __str__(self) -> str:
        return f"live battle {self.pk} ({self.state})"


class ModerationRecord(models.Model):
    """Every message a person sent to a live battle, with the moderation hook's decision on it."""

    voter_key = models.CharField(max_length=80)
    text = models.TextField()
    allowed = models.BooleanField()
    reason = models.CharField(max_length=300, blank=True)
    hook = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["voter_key", "created"], name="moderation_voter_created")]

    def __str__(self) -> str:
        return f"{'allowed' if self.allowed else 'refused'}: {self.text[:40]}"
