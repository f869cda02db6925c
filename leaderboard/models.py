"""Stored leaderboards: every recompute is a versioned run of snapshots, so pages never fit during a request.

A `RecomputeRun` is one version of the whole board (all dimensions × categories × sources), written in one
transaction when it finishes; a `Snapshot` is one leaderboard of that run with its counts and matrices, and
`SnapshotRow` one contender on it. `RecomputeState` is the single row that coalesces recompute requests.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# The pseudo-source pooling every LLM judge's verdicts; a real `Source.key` must not take this value.
JUDGES_KEY = "judges"
# `Snapshot.category` of the leaderboard over all prompts, whatever their category.
ALL_CATEGORIES = ""


class RecomputeRun(models.Model):
    """One recompute of every leaderboard. Pages show the newest finished run; older ones stay viewable."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=20, help_text="schedule, staff, api, cli, demo, ...")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    # Digest of what the run read (verdict counts, approvals, categories, settings): an unchanged digest
    # lets a scheduled run skip the work, since the result would be identical.
    fingerprint = models.CharField(max_length=64, blank=True)
    n_verdicts = models.PositiveBigIntegerField(default=0)
    n_snapshots = models.PositiveIntegerField(default=0)
    # Progress while running: leaderboards to fit, and fitted so far (pages show "12 of 54").
    n_boards = models.PositiveIntegerField(default=0, db_default=0)
    n_fitted = models.PositiveIntegerField(default=0, db_default=0)
    n_failed = models.PositiveIntegerField(default=0, help_text="Snapshots stored with a failure message.")
    duration_ms = models.PositiveIntegerField(default=0)
    settings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "done", "failed"]), name="run_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="running", finished__isnull=True)
                | (~Q(status="running") & Q(finished__isnull=False)),
                name="run_finished_iff_not_running",
            ),
        ]
        indexes = [models.Index(fields=["status", "-finished"], name="run_status_finished")]

    def __str__(self) -> str:
        return f"run #{self.pk} ({self.status}, {self.trigger})"


class Snapshot(models.Model):
    """One leaderboard of a run: a dimension × category × source, fitted or failed with a message.

    Matrices are stored as JSON lists aligned with `contender_ids`: `wins[i][j]` is i's win mass over j,
    `ties` the (symmetric) tie mass, `win_fraction[i][j]` i's mean score against j (null where they never
    met) and `battle_count[i][j]` their number of verdicts.
    """

    class Status(models.TextChoices):
        OK = "ok", "Fitted"
        FAILED = "failed", "Not fitted"

    class SourceKind(models.TextChoices):
        HUMAN = "human", "People"
        JUDGE = "judge", "LLM judge"
        IMPORT = "import", "Imported battles"
        JURY = "jury", "Jury of LLM judges"
        JUDGES = "judges", "All LLM judges"

    run = models.ForeignKey(RecomputeRun, on_delete=models.CASCADE, related_name="snapshots")
    dimension = models.ForeignKey("arena.Dimension", on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=100, blank=True, help_text="Empty: all categories.")
    # Null for the pseudo-source pooling all judges; `source_key` addresses both kinds alike.
    source = models.ForeignKey(
        "arena.Source", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source_key = models.CharField(max_length=120)
    source_kind = models.CharField(max_length=10, choices=SourceKind.choices)
    source_name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices)
    message = models.TextField(blank=True, help_text="Why the fit failed, or notes on ill-posed data.")
    method = models.CharField(max_length=40, default="bradley_terry")
    params = models.JSONField(default=dict, blank=True)
    diagnostics = models.JSONField(default=dict, blank=True)
    n_verdicts = models.PositiveBigIntegerField(default=0)
    n_contenders = models.PositiveIntegerField(default=0)
    contender_ids = models.JSONField(default=list, blank=True)
    wins = models.JSONField(default=list, blank=True)
    ties = models.JSONField(default=list, blank=True)
    win_fraction = models.JSONField(default=list, blank=True)
    battle_count = models.JSONField(default=list, blank=True)
    style_coefficients = models.JSONField(default=dict, blank=True)
    style_message = models.TextField(blank=True)
    # Calibrated by people (judge and jury boards over all categories): how many battles people also judged
    # that the correction rests on (0: not calibrated), and why it is missing or what to know about it.
    n_labelled = models.PositiveIntegerField(default=0)
    calibration_message = models.TextField(blank=True)
    computed = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    # Digest of everything the board was fitted from (see leaderboard.services.board_fingerprint): a later
    # fanned-out run whose board has the same digest copies this snapshot instead of fitting it again.
    input_fingerprint = models.CharField(max_length=64, blank=True, db_default="", default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "dimension", "category", "source_key"], name="snapshot_once_per_board"
            ),
            models.CheckConstraint(condition=Q(status__in=["ok", "failed"]), name="snapshot_status_valid"),
            models.CheckConstraint(
                condition=Q(source_kind__in=["human", "judge", "import", "jury", "judges"]),
                name="snapshot_source_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(source__isnull=True, source_kind="judges")
                | (Q(source__isnull=False) & ~Q(source_kind="judges")),
                name="snapshot_pseudo_source_has_no_row",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(message=""), name="snapshot_failure_explained"
            ),
        ]

    def __str__(self) -> str:
        category = self.category or "all"
        return f"{self.source_key}/{self.dimension_id}/{category} in run {self.run_id}"


class SnapshotRow(models.Model):
    """One contender on one leaderboard. Ratings are on the Elo scale; bounds are 95 % bootstrap bounds."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="rows")
    contender = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(help_text="1 for the highest rating.")
    rating = models.FloatField()
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    rank_ub = models.PositiveIntegerField()
    n_verdicts = models.PositiveBigIntegerField()
    average_win_rate = models.FloatField(null=True, blank=True)
    style_rating = models.FloatField(null=True, blank=True)
    style_ci_low = models.FloatField(null=True, blank=True)
    style_ci_high = models.FloatField(null=True, blank=True)
    style_rank_ub = models.PositiveIntegerField(null=True, blank=True)
    # Coverage: of the prompts this leaderboard uses (those of the prompt sets its verdicts came from, in its
    # category), how many the contender answered. Null in runs stored before coverage was recorded.
    prompts_answered = models.PositiveIntegerField(null=True, blank=True)
    prompts_total = models.PositiveIntegerField(null=True, blank=True)
    # The judge's rating corrected by people's verdicts on the battles both judged (prediction-powered
    # inference, see leaderboard.rating.calibrated); null when the board is not calibrated.
    calibrated_rating = models.FloatField(null=True, blank=True)
    calibrated_ci_low = models.FloatField(null=True, blank=True)
    calibrated_ci_high = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["snapshot", "position"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "contender"], name="snapshot_row_once_per_contender"),
            models.UniqueConstraint(fields=["snapshot", "position"], name="snapshot_row_position_unique"),
            models.CheckConstraint(condition=Q(rank_ub__gte=1), name="snapshot_row_rank_positive"),
            models.CheckConstraint(
                condition=Q(ci_low__isnull=True, ci_high__isnull=True) | Q(ci_low__lte=F("ci_high")),
                name="snapshot_row_interval_ordered",
            ),
            models.CheckConstraint(
                condition=Q(average_win_rate__isnull=True)
                | Q(average_win_rate__gte=0.0, average_win_rate__lte=1.0),
                name="snapshot_row_win_rate_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contender_id}: {self.rating:.1f}"


class JudgeAgreement(models.Model):
    """How often one LLM judge's verdict equals the people's majority, on battles both judged, per dimension.

    Labels are compared on the rating scale (a, b, or a draw: tie and both-bad are one label); battle ×
    dimensions where people have no strict majority are left out of `n_compared`.
    """

    run = models.ForeignKey(RecomputeRun, on_delete=models.CASCADE, related_name="agreements")
    source = models.ForeignKey("arena.Source", on_delete=models.CASCADE, related_name="+")
    dimension = models.ForeignKey("arena.Dimension", on_delete=models.CASCADE, related_name="+")
    # The prompts' category; ALL_CATEGORIES ("") for the battles of every category together.
    category = models.CharField(max_length=100, blank=True, default=ALL_CATEGORIES, db_default=ALL_CATEGORIES)
    n_compared = models.PositiveIntegerField()
    n_agreed = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "source", "dimension", "category"], name="agreement_once_per_judge_category"
            ),
            models.CheckConstraint(condition=Q(n_agreed__lte=F("n_compared")), name="agreement_at_most_all"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}/{self.dimension_id}: {self.n_agreed}/{self.n_compared}"


class RecomputeState(models.Model):
    """The one row (pk=1) that serialises recomputes; every change is a conditional UPDATE on it.

    `holder` is the token of the running recompute and `lease_until` when its claim lapses if it dies
    (renewed as it goes). `dirty`: a request arrived while it ran, so it runs once more before letting go.
    `queued_at`: a task message is on its way, so further requests need not send another.
    """

    holder = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    dirty = models.BooleanField(default=False)
    queued_at = models.DateTimeField(null=True, blank=True)
    runs_started = models.PositiveBigIntegerField(default=0)
    last_requested = models.DateTimeField(null=True, blank=True)
    last_finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="recompute_state_singleton"),
            models.CheckConstraint(
                condition=Q(holder="", lease_until__isnull=True)
                | (~Q(holder="") & Q(lease_until__isnull=False)),
                name="recompute_state_lease_with_holder",
            ),
        ]

    def __str__(self) -> str:
        return f"recompute state (holder {self.holder or 'none'})"


class BoardJob(models.Model):
    """One leaderboard of a fanned-out run, waiting for a "ratings" worker to fit it (leaderboard.fanout).

    `payload` is the board's packed input (counts, style groups, labelled battles, coverage); `result` the
    packed snapshot and rows once fitted. Workers claim a job with a conditional UPDATE and a lease: a job
    whose worker died is claimed again once `lease_until` passed, at most MAX_ATTEMPTS times. The run's
    coordinator stores every result in one transaction and deletes the jobs with it.
    """

    MAX_ATTEMPTS = 3

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        CLAIMED = "claimed", "Being fitted"
        DONE = "done", "Fitted"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(RecomputeRun, on_delete=models.CASCADE, related_name="board_jobs")
    position = models.PositiveIntegerField(help_text="The board's place in the run's plan.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    token = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    payload = models.BinaryField()
    result = models.BinaryField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="board_job_once_per_position"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "claimed", "done", "failed"]), name="board_job_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(result__isnull=False), name="board_job_done_has_result"
            ),
            models.CheckConstraint(
                condition=~Q(state="claimed") | (~Q(token="") & Q(lease_until__isnull=False)),
                name="board_job_claim_has_lease",
            ),
        ]
        indexes = [models.Index(fields=["run", "state"], name="board_job_run_state")]

    def __str__(self) -> str:
        return f"board {self.position} of run {self.run_id} ({self.state})"
