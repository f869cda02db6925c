from django.db import models
from django.db.models import Q


class Dimension(models.Model):
    """A quality axis verdicts are given on (overall, helpfulness, ...). Rows, so staff can add more."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    rubric = models.TextField(help_text="What judges and annotators should weigh on this dimension.")
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name


class PromptSet(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Dimensions offered to human annotators besides "overall"; empty means overall only.
    vote_dimensions = models.ManyToManyField(Dimension, blank=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    # The id the uploader used in their file; unique within the set.
    external_id = models.CharField(max_length=100)
    text = models.TextField()
    category = models.CharField(max_length=100, blank=True, db_index=True)
    language = models.CharField(max_length=20, default="en")
    reference_answer = models.TextField(blank=True)

    class Meta:
        ordering = ["prompt_set", "id"]
        constraints = [
            models.UniqueConstraint(fields=["prompt_set", "external_id"], name="prompt_unique_external_id"),
            models.CheckConstraint(condition=~Q(text=""), name="prompt_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt_set.slug}/{self.external_id}"


class Output(models.Model):
    """A contender's answer to one prompt. Style counts feed style-controlled ratings."""

    contender = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="outputs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="outputs")
    text = models.TextField()
    n_chars = models.PositiveIntegerField(default=0)
    n_headers = models.PositiveIntegerField(default=0)
    n_list_items = models.PositiveIntegerField(default=0)
    n_bold = models.PositiveIntegerField(default=0)
    # What in the text names a model or vendor ("I am Claude"), found when it was stored; blank: nothing.
    # Battles with such an answer are never served to people (the name would unblind them); judges still judge.
    identity_leak = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contender", "prompt"], name="output_one_per_contender_prompt"),
            models.CheckConstraint(condition=~Q(text=""), name="output_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.contender.slug} on {self.prompt}"
