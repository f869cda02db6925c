"""`manage.py jury_create SLUG --name NAME --member CONFIG --member CONFIG [--method majority|learned]`."""

from __future__ import annotations

from arena.error_responses import DomainErrorsAsCommandErrors
from judges.models import Jury
from judges.services.juries import jury_create, jury_refresh


def member_slugs(values: list[str]) -> list[str]:
    return [slug.strip() for value in values for slug in value.split(",") if slug.strip()]


class Command(DomainErrorsAsCommandErrors):
    help = (
        "Define a jury: several judge configs combined into one leaderboard source (majority vote, or weights "
        "learned from people's votes), and compute its verdicts now."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The jury's key on the leaderboard (letters, digits, - and _).")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--member", action="append", required=True, help="Judge config slug (repeat or comma)."
        )
        parser.add_argument("--method", default=Jury.Method.MAJORITY, help="majority (default) or learned.")

    def handle(self, *args, **options):
        jury = jury_create(
            slug=options["slug"], name=options["name"], method=options["method"],
            members=member_slugs(options["member"]),
        )  # fmt: skip
        refreshed = jury_refresh(jury=jury)
        self.stdout.write(
            f"Jury {jury.slug!r} created with {jury.members.count()} members ({jury.get_method_display()}): "
            f"{refreshed.created} verdicts, {refreshed.order_choices} per-order choices. Recompute the "
            "leaderboards (manage.py recompute_leaderboards) to see it there."
        )
