"""Admin for human voting: staff open tasks with gold battles, review flagged votes and exclude annotators."""

from django import forms
from django.contrib import admin, messages

from arena.models import AnnotationTask, Annotator, Assignment, Dimension, GoldBattle, VoteFlag
from arena.voting.staff import annotator_set_excluded, assignments_exclude_votes
from arena.voting.stats import task_goal_forget


class GoldBattleInline(admin.TabularInline):
    model = GoldBattle
    extra = 0
    raw_id_fields = ("battle",)
    fields = ("battle", "expected", "explanation")


class AnnotationTaskForm(forms.ModelForm):
    """The task's fields plus the dimensions its people vote on, which belong to the task's prompt set."""

    vote_dimensions = forms.ModelMultipleChoiceField(
        queryset=Dimension.objects.filter(is_active=True).exclude(slug="overall"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional rows offered beside Overall (always asked). Stored on the prompt set: every task "
        "on that set offers the same dimensions, so people's verdicts stay comparable.",
    )

    class Meta:
        model = AnnotationTask
        fields = [
            "name", "slug", "prompt_set", "contenders", "votes_per_battle", "guidelines", "gold_rate",
            "inconsistent_first", "is_active",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["vote_dimensions"].initial = self.instance.prompt_set.vote_dimensions.all()
        else:  # a new task: every dimension, unless staff narrow it down
            self.fields["vote_dimensions"].initial = self.fields["vote_dimensions"].queryset


@admin.register(AnnotationTask)
class AnnotationTaskAdmin(admin.ModelAdmin):
    form = AnnotationTaskForm
    list_display = (
        "name",
        "slug",
        "prompt_set",
        "votes_per_battle",
        "gold_rate",
        "inconsistent_first",
        "is_active",
        "created",
    )
    list_filter = ("is_active", "prompt_set")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("contenders",)
    inlines = [GoldBattleInline]
    readonly_fields = ("created_by", "created")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        # Other (inactive) dimensions the set already offers are kept: the form lists active ones only.
        kept = obj.prompt_set.vote_dimensions.filter(is_active=False)
        obj.prompt_set.vote_dimensions.set([*kept, *form.cleaned_data["vote_dimensions"]])

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the task's contenders are saved here
        task_goal_forget(form.instance)


@admin.register(Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    list_display = ("__str__", "voter_key", "organization", "excluded", "excluded_reason", "created")
    list_filter = ("excluded",)
    search_fields = ("voter_key", "user__username")
    readonly_fields = (
        "voter_key",
        "user",
        "excluded",
        "excluded_reason",
        "excluded_at",
        "excluded_by",
        "last_choice",
        "streak",
        "created",
    )
    actions = ["exclude_votes", "count_votes"]

    def _set(self, request, queryset, excluded: bool) -> None:
        reason = "excluded in the admin" if excluded else ""
        changed = sum(
            annotator_set_excluded(annotator=a, excluded=excluded, by=request.user, reason=reason)
            for a in queryset
        )
        verb = "excluded from" if excluded else "counted again in"
        self.message_user(
            request, f"{changed} annotator(s) {verb} ratings; their votes are kept.", messages.SUCCESS
        )

    @admin.action(description="Exclude their votes from ratings (now and later)")
    def exclude_votes(self, request, queryset):
        self._set(request, queryset, True)

    @admin.action(description="Count their votes again")
    def count_votes(self, request, queryset):
        self._set(request, queryset, False)


class VoteFlagInline(admin.TabularInline):
    model = VoteFlag
    extra = 0
    readonly_fields = ("kind", "detail", "created")
    can_delete = False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = (
        "annotator",
        "task",
        "battle",
        "state",
        "outcome",
        "left_is_a",
        "read_ms",
        "gold_passed",
        "flagged",
        "served_at",
    )
    list_filter = ("state", "flagged", "gold_passed", "task", "annotator")
    raw_id_fields = ("battle", "annotator", "gold")
    readonly_fields = ("token",)
    inlines = [VoteFlagInline]
    actions = ["exclude_votes"]

    @admin.action(description="Exclude the verdicts of the selected votes from ratings")
    def exclude_votes(self, request, queryset):
        changed = assignments_exclude_votes(queryset.select_related("annotator"))
        self.message_user(
            request, f"{changed} verdict(s) excluded from ratings; they are kept for audit.", messages.SUCCESS
        )


@admin.register(VoteFlag)
class VoteFlagAdmin(admin.ModelAdmin):
    list_display = ("assignment", "kind", "detail", "created")
    list_filter = ("kind",)
    raw_id_fields = ("assignment",)
