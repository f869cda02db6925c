"""Admin views of judge data. Configs are edited on /judges/configs/ (which versions them); judgments,
generations and final verdicts are records and read-only here."""

from django import forms
from django.contrib import admin

from arena.models import Source
from judges.models import (
    Campaign,
    FinalVerdict,
    Generation,
    JudgeConfig,
    JudgeConfigVersion,
    Judgment,
    Jury,
    JuryOrderChoice,
)
from judges.services.configs import judge_config_version_current


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JudgeConfig)
class JudgeConfigAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "name",
        "provider",
        "model",
        "base_url",
        "api_key_env",
        "api_key_file",
        "current_version",
        "is_active",
    )
    list_filter = ("provider", "is_active")
    readonly_fields = ("source", "current_version")
    filter_horizontal = ("dimensions",)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Dimensions are saved with the related objects; version the config once everything is in place.
        judge_config_version_current(config=form.instance)

    def has_add_permission(self, request):
        return False  # creation needs a Source and a first version: use /judges/configs/new/


@admin.register(JudgeConfigVersion)
class JudgeConfigVersionAdmin(ReadOnlyAdmin):
    list_display = ("config", "number", "provider", "model", "template_label", "fingerprint", "created")
    list_filter = ("config",)


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "kind", "status", "plan", "prompt_set", "est_calls", "est_cost", "created")
    list_filter = ("kind", "status")


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "campaign",
        "battle",
        "config_version",
        "order",
        "status",
        "attempts",
        "tokens_in",
        "tokens_out",
        "cost",
        "latency_ms",
    )
    list_filter = ("status", "order", "error_kind", "config_version")
    raw_id_fields = ("battle", "campaign", "reused_from")


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "campaign",
        "contender",
        "prompt",
        "status",
        "attempts",
        "tokens_in",
        "tokens_out",
        "latency_ms",
    )
    list_filter = ("status",)


@admin.register(FinalVerdict)
class FinalVerdictAdmin(ReadOnlyAdmin):
    list_display = ("battle", "dimension", "config_version", "outcome", "inconsistent", "verdict", "created")
    list_filter = ("inconsistent", "outcome", "config_version")
    raw_id_fields = ("battle", "shown", "swapped", "verdict", "campaign")


class JuryForm(forms.ModelForm):
    class Meta:
        model = Jury
        fields = ("name", "method", "members", "is_active")

    def clean_members(self):
        members = self.cleaned_data["members"]
        if len(members) < 2:
            raise forms.ValidationError(f"A jury needs at least two judge configs; {len(members)} chosen.")
        return members


@admin.register(Jury)
class JuryAdmin(admin.ModelAdmin):
    """Juries are created with `manage.py jury_create` (which makes their leaderboard source); here staff
    change the name, method, members or switch one off. Saving refreshes its verdicts through the worker."""

    list_display = ("slug", "name", "method", "is_active", "refreshed")
    list_filter = ("method", "is_active")
    form = JuryForm
    readonly_fields = ("slug", "source", "weights", "refreshed")
    filter_horizontal = ("members",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        Source.objects.filter(pk=obj.source_id).update(name=obj.name)  # the leaderboard shows this name

    def has_add_permission(self, request):
        return False

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from judges.services.enqueue import leaderboard_recompute_on_commit

        leaderboard_recompute_on_commit()  # refreshes the juries first, then refits


@admin.register(JuryOrderChoice)
class JuryOrderChoiceAdmin(ReadOnlyAdmin):
    list_display = ("jury", "battle", "dimension", "order", "choice", "n_members")
    list_filter = ("jury", "order")
