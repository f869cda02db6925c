"""Admin views of stored leaderboards: read-only, since only a recompute writes them."""

from django.contrib import admin

from leaderboard.models import JudgeAgreement, RecomputeRun, RecomputeState, Snapshot, SnapshotRow


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RecomputeRun)
class RecomputeRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "status",
        "trigger",
        "started",
        "finished",
        "n_snapshots",
        "n_failed",
        "n_verdicts",
        "duration_ms",
    )
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in RecomputeRun._meta.fields]


class SnapshotRowInline(admin.TabularInline):
    model = SnapshotRow
    extra = 0
    can_delete = False
    fields = ("position", "contender", "rating", "ci_low", "ci_high", "rank_ub", "n_verdicts", "style_rating")
    readonly_fields = fields


MATRICES = ("wins", "ties", "win_fraction", "battle_count")


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "run",
        "source_key",
        "dimension",
        "category",
        "status",
        "n_verdicts",
        "n_contenders",
    )
    list_filter = ("status", "source_kind", "dimension")
    search_fields = ("source_key", "category", "message")
    exclude = MATRICES  # large JSON; the page's heatmaps show them
    readonly_fields = [f.name for f in Snapshot._meta.fields if f.name not in MATRICES]
    inlines = [SnapshotRowInline]


@admin.register(JudgeAgreement)
class JudgeAgreementAdmin(ReadOnlyAdmin):
    list_display = ("run", "source", "dimension", "n_agreed", "n_compared")
    list_filter = ("source", "dimension")


@admin.register(RecomputeState)
class RecomputeStateAdmin(ReadOnlyAdmin):
    list_display = (
        "holder",
        "lease_until",
        "dirty",
        "queued_at",
        "runs_started",
        "last_requested",
        "last_finished",
    )
