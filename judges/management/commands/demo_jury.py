"""A `make demo` step (see DEMO_STEPS in arena/management/commands/demo.py): a jury of the demo's two
offline judges, so juries show on the demo leaderboard.

Runs after `demo_campaign` (whose judges it combines) and before the leaderboards are recomputed. Safe to
run twice: the jury is created once and refreshed every time.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from judges.management.commands.demo_campaign import JUDGES
from judges.models import JudgeConfig, Jury
from judges.services.juries import jury_create, jury_refresh

JURY_SLUG = "demo-jury"


class Command(BaseCommand):
    help = "Create (once) and refresh a jury of the demo's judges, with weights learned from people's votes."

    def handle(self, *args, **options):
        if JudgeConfig.objects.filter(slug__in=list(JUDGES)).count() < 2:
            self.stdout.write("Demo jury skipped: the demo's judges are not there (run demo_campaign first).")
            return
        jury = Jury.objects.filter(slug=JURY_SLUG).first() or jury_create(
            slug=JURY_SLUG, name="Jury: lexical judges, weighted by people", method=Jury.Method.LEARNED,
            members=list(JUDGES),
        )  # fmt: skip
        refreshed = jury_refresh(jury=jury)
        self.stdout.write(
            f"Demo jury {jury.slug!r}: {refreshed.created + refreshed.changed} verdicts written, "
            f"{refreshed.order_choices} per-order choices."
        )
