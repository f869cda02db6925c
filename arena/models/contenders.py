from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class Contender(models.Model):
    """An LLM under evaluation. Only approved contenders appear on public pages."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        HIDDEN = "hidden", "Hidden"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    organization = models.CharField(max_length=200, blank=True)
    license = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    # Optional OpenAI-compatible endpoint from which missing outputs can be generated.
    endpoint_url = models.URLField(blank=True)
    endpoint_model = models.CharField(max_length=200, blank=True)
    # The *name* of an environment variable holding the endpoint's key; the key itself is never stored. Set by
    # staff only, from ARENA_ENDPOINT_KEY_NAMES; a name off that list is never resolved nor sent.
    endpoint_api_key_env = models.CharField(max_length=100, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="contenders"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected", "hidden"]),
                name="contender_status_valid",
            ),
            models.CheckConstraint(condition=~Q(slug=""), name="contender_slug_not_empty"),
            # "My-Model" beside "my-model" (or two contenders both called "Llama 3") would confuse voters and
            # readers of the leaderboard alike.
            models.UniqueConstraint(Lower("slug"), name="contender_slug_unique_ignoring_case"),
            models.UniqueConstraint(Lower("name"), name="contender_name_unique_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.status == self.Status.APPROVED
