"""`manage.py jury_update SLUG [--name NAME] [--method majority|learned] [--member CONFIG ...]`, then refresh."""

from __future__ import annotations

from django.core.management.base import CommandError

from arena.error_responses import DomainErrorsAsCommandErrors
from judges.management.commands.jury_create import member_slugs
from judges.models import Jury
from judges.services.juries import jury_refresh, jury_update


class Command(DomainErrorsAsCommandErrors):
    help = (
        "Change a jury's name, method or members (the members given replace the old ones) and recompute it."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name")
        parser.add_argument("--method", help="majority or learned.")
        parser.add_argument("--member", action="append", help="Judge config slug (repeat or comma).")

    def handle(self, *args, **options):
        jury = Jury.objects.filter(slug=options["slug"]).first()
        if jury is None:
            known = ", ".join(Jury.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No jury {options['slug']!r}. Juries: {known}.")
        members = member_slugs(options["member"]) if options["member"] else None
        jury = jury_update(jury=jury, name=options["name"], method=options["method"], members=members)
        refreshed = jury_refresh(jury=jury)
        self.stdout.write(
            f"Jury {jury.slug!r} updated: {refreshed.created} verdicts added, {refreshed.changed} changed, "
            f"{refreshed.removed} removed."
        )
