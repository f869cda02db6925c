from django.db import models
from django.db.models import Q

from arena.rendering import html_fill

_HTML_FIELDS = ("html", "html_stamp")


class StoredHtmlQuerySet(models.QuerySet):
    """Rows that keep their texts' rendered HTML (arena.rendering.html_fill): bulk writes render it too, so
    every way of storing an answer or a prompt stores its HTML (imports use bulk_create).

    `bulk_create(..., render_html=False)` stores the rows without it, for a writer that has the HTML filled
    later (a web upload: arena.services.stored_html), since rendering a large upload takes seconds of CPU."""

    def bulk_create(self, objs, *args, render_html: bool = True, **kwargs):
        objs = list(objs)
        if render_html:
            for obj in objs:
                html_fill(obj)
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        changed = [html_fill(obj) for obj in objs]
        if any(changed):
            fields = [*fields, *(name for name in _HTML_FIELDS if name not in fields)]
        return super().bulk_update(objs, fields, *args, **kwargs)


class StoredHtmlModel(models.Model):
    """The texts' sanitised HTML, rendered when the row is written (see arena.rendering, "HTML stored with the
    texts"): `html` has one entry per `rendered_texts()`, `html_stamp` says which renderer and texts it is of."""

    html = models.JSONField(default=list, blank=True, db_default=[], editable=False)
    html_stamp = models.CharField(max_length=64, blank=True, default="", db_default="", editable=False)

    objects = StoredHtmlQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if html_fill(self) and update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *_HTML_FIELDS}
        super().save(*args, **kwargs)

    def rendered_texts(self) -> list[str]:
        raise NotImplementedError


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
    # Whether the public prompt-set pages and downloads show each prompt's reference answer (off: references
    # stay with the judges, e.g. for a held-out test set).
    show_references = models.BooleanField(default=False, db_default=False)
    # Dimensions offered to human annotators besides "overall"; empty means overall only.
    vote_dimensions = models.ManyToManyField(Dimension, blank=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Prompt(StoredHtmlModel):
    """A question put to every contender: one user turn, or a conversation of several.

    `text` is always the first user turn, so single-turn code reads it unchanged; `later_turns` holds the user
    turns after it (empty for a single-turn prompt) and `system_message` an optional system message.
    """

    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    # The id the uploader used in their file; unique within the set.
    external_id = models.CharField(max_length=100)
    text = models.TextField()
    system_message = models.TextField(blank=True, default="", db_default="")
    later_turns = models.JSONField(default=list, blank=True, db_default=[])
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

    @property
    def user_turns(self) -> list[str]:
        """Every user turn in order, the first being `text`."""
        return [self.text, *self.later_turns]

    @property
    def is_multi_turn(self) -> bool:
        return bool(self.later_turns)

    def rendered_texts(self) -> list[str]:
        """The texts `html` holds, in order: the system message ("" when none), then every user turn."""
        return [self.system_message, *self.user_turns]


class Output(StoredHtmlModel):
    """A contender's answer to one prompt. Style counts feed style-controlled ratings.

    `text` is the reply to the prompt's first user turn; `later_replies` the replies to its `later_turns`, one
    each, in order (the services that write outputs keep the two lists the same length).
    """

    contender = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="outputs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="outputs")
    text = models.TextField()
    later_replies = models.JSONField(default=list, blank=True, db_default=[])
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

    @property
    def replies(self) -> list[str]:
        """Every reply in order, the first being `text`."""
        return [self.text, *self.later_replies]

    def rendered_texts(self) -> list[str]:
        """The texts `html` holds: every reply in order."""
        return self.replies
