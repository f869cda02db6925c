from django.conf import settings
from django.db import models
from django.db.models import Q


class Outcome(models.TextChoices):
    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both are bad"


# Score for side A of each hard outcome; ties and both_bad are half a win each way (kept distinct in data).
OUTCOME_SCORE = {Outcome.A: 1.0, Outcome.B: 0.0, Outcome.TIE: 0.5, Outcome.BOTH_BAD: 0.5}


class Source(models.Model):
    """Who gave verdicts, as one leaderboard source: the people, one LLM judge config, an import, or a jury
    (several judge configs combined; its verdicts are derived from theirs and rewritten when they change)."""

    class Kind(models.TextChoices):
        HUMAN = "human", "People"
        JUDGE = "judge", "LLM judge"
        IMPORT = "import", "Imported battles"
        JURY = "jury", "Jury of LLM judges"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.SlugField(max_length=120, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["human", "judge", "import", "jury"]), name="source_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Verdict(models.Model):
    """One judgement of one battle on one dimension, by a person or an LLM judge.

    Shaped for `GROUP BY contender_a, contender_b, outcome`: the battle's contenders are copied here by the
    service that writes verdicts. `outcome` is set for hard verdicts; `score` (probability that A is better)
    is always set, so soft verdicts aggregate with the same query. `voter_key` distinguishes people within
    the human source ("u:<user id>" or "s:<session hash>") and is empty for judges, which makes the unique
    constraint below the database's guarantee that a vote is counted once.
    """

    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="verdicts")
    dimension = models.ForeignKey("arena.Dimension", on_delete=models.PROTECT, related_name="verdicts")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="verdicts")
    contender_a = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="+")
    contender_b = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts"
    )
    voter_key = models.CharField(max_length=80, blank=True, default="")
    # NULL (not "") marks a soft verdict, so the check constraint below can tell the two kinds apart.
    outcome = models.CharField(max_length=10, choices=Outcome.choices, null=True, blank=True)  # noqa: DJ001
    score = models.FloatField()
    # An LLM judge disagreed with itself across the two answer orders; the verdict is then a tie.
    inconsistent = models.BooleanField(default=False)
    # Staff excluded this verdict (e.g. an annotator's votes) from ratings; kept for audit.
    excluded = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["battle", "dimension", "source", "voter_key"], name="verdict_once_per_voter"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0.0, score__lte=1.0), name="verdict_score_in_unit_interval"
            ),
            models.CheckConstraint(
                condition=Q(outcome__isnull=True)
                | Q(outcome="a", score=1.0)
                | Q(outcome="b", score=0.0)
                | Q(outcome__in=["tie", "both_bad"], score=0.5),
                name="verdict_outcome_matches_score",
            ),
            models.CheckConstraint(
                condition=~Q(contender_a=models.F("contender_b")), name="verdict_different_contenders"
            ),
        ]
        indexes = [
            models.Index(
                fields=["source", "dimension", "contender_a", "contender_b"], name="verdict_aggregation"
            ),
            # A person's own votes (their progress and agreement on every battle served): only people's
            # verdicts have a voter key, so the index leaves out the judges' rows, most of the table.
            models.Index(
                fields=["voter_key", "dimension"], name="verdict_by_voter", condition=~Q(voter_key="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.battle_id}/{self.dimension_id}: {self.outcome or self.score}"
