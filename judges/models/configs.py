"""Judge configs (editable by staff) and their immutable versions (what judgments and verdicts refer to)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from judges.prompting import DEFAULT_TEMPLATE

ENV_NAME_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]*)?$"


class JudgeTurns(models.TextChoices):
    """What a verdict on a multi-turn battle is about (single-turn battles have one turn either way)."""

    WHOLE = "whole", "The whole conversation"
    LAST = "last", "The replies to the last turn (earlier turns as context)"


class JudgeConfig(models.Model):
    """How to ask one LLM (or offline judge) for verdicts.

    The API key is referenced, never stored: `api_key_env` names an environment variable, `api_key_file`
    a secret file (e.g. /run/secrets/openai); both are read by the worker at call time. Prices are in US
    dollars per million tokens. Editing a field that changes what the judge is asked (see
    `JudgeConfigVersion`) creates a new version; operational fields (prices, limits, key reference) do not.
    """

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=50, help_text="A registered provider: openai or lexical.")
    model = models.CharField(max_length=200)
    base_url = models.CharField(max_length=500, blank=True, help_text="Up to and including /v1.")
    api_key_env = models.CharField(max_length=100, blank=True)
    api_key_file = models.CharField(max_length=500, blank=True)
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=512)
    template = models.TextField(default=DEFAULT_TEMPLATE)
    dimensions = models.ManyToManyField("arena.Dimension", related_name="+")
    sees_reference = models.BooleanField(default=False)
    judge_turns = models.CharField(
        max_length=10, choices=JudgeTurns.choices, default=JudgeTurns.WHOLE, db_default=JudgeTurns.WHOLE
    )
    price_input_per_mtok = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    price_output_per_mtok = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    concurrency_limit = models.PositiveSmallIntegerField(default=8)
    timeout_seconds = models.FloatField(default=60.0)
    # The leaderboard source of this judge's verdicts; fixed at creation so renaming keeps its history.
    source = models.OneToOneField("arena.Source", on_delete=models.PROTECT, related_name="judge_config")
    current_version = models.ForeignKey(
        "judges.JudgeConfigVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(api_key_env="") | Q(api_key_file=""), name="judge_config_one_key_reference"
            ),
            models.CheckConstraint(
                condition=Q(api_key_env__regex=ENV_NAME_PATTERN), name="judge_config_key_env_is_a_name"
            ),
            models.CheckConstraint(
                condition=Q(temperature__gte=0, temperature__lte=2), name="judge_config_temperature_range"
            ),
            models.CheckConstraint(condition=Q(max_tokens__gte=1), name="judge_config_max_tokens_positive"),
            models.CheckConstraint(
                condition=Q(concurrency_limit__gte=1), name="judge_config_concurrency_positive"
            ),
            models.CheckConstraint(condition=Q(timeout_seconds__gt=0), name="judge_config_timeout_positive"),
            models.CheckConstraint(
                condition=Q(price_input_per_mtok__gte=0, price_output_per_mtok__gte=0),
                name="judge_config_prices_not_negative",
            ),
            models.CheckConstraint(condition=~Q(slug=""), name="judge_config_slug_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def api_key_reference(self) -> str:
        """Where the key comes from, for pages and logs (never the key)."""
        if self.api_key_env:
            return f"env:{self.api_key_env}"
        if self.api_key_file:
            return f"file:{self.api_key_file}"
        return "none"


class JudgeConfigVersion(models.Model):
    """An immutable snapshot of everything that shapes a judge's answer.

    `dimensions` is `[[slug, rubric], ...]` as sent (rubrics are copied, so editing a Dimension's rubric
    later also yields a new version). `fingerprint` hashes all of it; identical fingerprints mean identical
    requests, which is what the reuse cache keys on.
    """

    config = models.ForeignKey(JudgeConfig, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=200)
    base_url = models.CharField(max_length=500, blank=True)
    temperature = models.FloatField()
    max_tokens = models.PositiveIntegerField()
    template = models.TextField()
    template_label = models.CharField(max_length=60)
    dimensions = models.JSONField()
    sees_reference = models.BooleanField()
    judge_turns = models.CharField(
        max_length=10, choices=JudgeTurns.choices, default=JudgeTurns.WHOLE, db_default=JudgeTurns.WHOLE
    )
    fingerprint = models.CharField(max_length=64, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["config", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["config", "number"], name="judge_version_unique_number"),
            models.UniqueConstraint(fields=["config", "fingerprint"], name="judge_version_unique_content"),
            models.CheckConstraint(condition=Q(number__gte=1), name="judge_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.config.slug} v{self.number}"

    @property
    def dimension_slugs(self) -> list[str]:
        return [slug for slug, _ in self.dimensions]
