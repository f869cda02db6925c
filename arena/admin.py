from django import forms
from django.contrib import admin

import arena.voting.admin  # noqa: F401  (human voting registers its own models)
from arena.errors import DomainError
from arena.models import ApiToken, Battle, Contender, Dimension, Output, Prompt, PromptSet, Source, Verdict
from arena.services.contenders import contender_set_status
from arena.services.endpoints import endpoint_key_names, endpoint_url_check
from arena.services.prompt_sets import contender_coverage


class ContenderAdminForm(forms.ModelForm):
    """Staff choose the endpoint's key from ARENA_ENDPOINT_KEY_NAMES only (never a free-typed name)."""

    endpoint_url = forms.URLField(required=False, assume_scheme="https", label="Endpoint URL")
    endpoint_api_key_env = forms.ChoiceField(
        required=False,
        label="Key sent to the endpoint",
        help_text="Environment variables listed in ARENA_ENDPOINT_KEY_NAMES; the key itself is never stored.",
    )

    class Meta:
        model = Contender
        fields = (
            "slug", "name", "organization", "license", "description", "endpoint_url", "endpoint_model",
            "endpoint_api_key_env", "submitted_by", "status",
        )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = endpoint_key_names()
        self.fields["endpoint_api_key_env"].choices = [("", "none")] + [(n, n) for n in names]

    def clean_endpoint_url(self):
        url = self.cleaned_data.get("endpoint_url", "")
        if url:
            try:
                endpoint_url_check(url)
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return url


@admin.register(Contender)
class ContenderAdmin(admin.ModelAdmin):
    form = ContenderAdminForm
    list_display = (
        "slug", "name", "organization", "license", "status", "outputs_per_prompt_set", "submitted_by", "created",
    )  # fmt: skip
    list_filter = ("status",)
    search_fields = ("slug", "name", "organization")
    actions = ["approve", "reject", "hide"]

    @admin.display(description="Outputs per prompt set")
    def outputs_per_prompt_set(self, obj: Contender) -> str:
        """ "set: answered of prompts" for each set the contender answered, so incomplete uploads show."""
        counts = [c for c in contender_coverage(obj) if c.n_answered]
        if not counts:
            return "none"
        return "; ".join(f"{c.prompt_set.slug}: {c.n_answered} of {c.n_prompts}" for c in counts)

    def _set(self, request, queryset, status):
        changed = sum(contender_set_status(contender=c, status=status) for c in queryset)
        self.message_user(request, f"{changed} contender(s) set to {status}.")

    @admin.action(description="Approve selected contenders")
    def approve(self, request, queryset):
        self._set(request, queryset, Contender.Status.APPROVED)

    @admin.action(description="Reject selected contenders")
    def reject(self, request, queryset):
        self._set(request, queryset, Contender.Status.REJECTED)

    @admin.action(description="Hide selected contenders")
    def hide(self, request, queryset):
        self._set(request, queryset, Contender.Status.HIDDEN)


class PromptInline(admin.TabularInline):
    model = Prompt
    extra = 0
    fields = ("external_id", "category", "language", "text")


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "show_references", "created")
    filter_horizontal = ("vote_dimensions",)
    inlines = [PromptInline]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("external_id", "prompt_set", "category", "language")
    # Staff relabel prompts in the list, e.g. the live set's prompts (category "live") by what they ask:
    # the next recompute ranks their battles under the new category, since boards read it from the prompt.
    list_editable = ("category",)
    list_filter = ("prompt_set", "category", "language")
    search_fields = ("external_id", "text")


class ReadOnlyOnceSavedAdmin(admin.ModelAdmin):
    """Rows that must not change once they exist: answers (their text and style counts are what people and
    judges saw, and ratings cache them per battle) and battles (their verdicts copy the contenders)."""

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return [field.name for field in self.model._meta.concrete_fields]


class IdentityLeakFilter(admin.SimpleListFilter):
    title = "identity leak"
    parameter_name = "leak"

    def lookups(self, request, model_admin):
        return [("yes", "names a model or vendor (not served to people)"), ("no", "none found")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(identity_leak="")
        if self.value() == "no":
            return queryset.filter(identity_leak="")
        return queryset


@admin.register(Output)
class OutputAdmin(ReadOnlyOnceSavedAdmin):
    list_display = ("contender", "prompt", "n_chars", "identity_leak", "created")
    list_filter = ("contender", "prompt__prompt_set", IdentityLeakFilter)
    raw_id_fields = ("prompt",)


@admin.register(Dimension)
class DimensionAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "position", "is_active")
    list_editable = ("position", "is_active")


@admin.register(Battle)
class BattleAdmin(ReadOnlyOnceSavedAdmin):
    list_display = ("id", "prompt", "contender_a", "contender_b", "created")
    raw_id_fields = ("prompt", "output_a", "output_b")


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "kind")


@admin.register(Verdict)
class VerdictAdmin(admin.ModelAdmin):
    list_display = (
        "battle",
        "dimension",
        "source",
        "outcome",
        "score",
        "inconsistent",
        "excluded",
        "created",
    )
    list_filter = ("source", "dimension", "outcome", "inconsistent", "excluded")
    raw_id_fields = ("battle", "user")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created", "expires", "last_used", "revoked")
    readonly_fields = ("prefix", "digest")
