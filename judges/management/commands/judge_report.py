"""``manage.py judge_report --source KEY [--dimension SLUG] [--judge-version N] [--json]``: a judge's report card.

Prints the card of a judge source (its current config version unless --judge-version) on a dimension (default
"overall"): as one JSON object with --json, else as a readable table. See docs/judge-reports.md.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from arena.error_responses import DomainErrorsAsCommandErrors
from judges.report.card import FIGURES
from judges.report.services import (
    report_card_for_source,
    report_dimension_get,
    report_source_get,
    version_get,
)


class Command(DomainErrorsAsCommandErrors):
    help = (
        "Print the report card of an LLM judge source (position, length, self-preference, agreement, cost)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", metavar="KEY", required=True, help="judge (or jury) source key")
        parser.add_argument("--dimension", metavar="SLUG", default="overall")
        parser.add_argument(
            "--judge-version", metavar="N", type=int, help="judge config version (default: current)"
        )
        parser.add_argument(
            "--rounds",
            type=int,
            help="bootstrap rounds for the intervals (default: JUDGES_REPORT_BOOTSTRAP_ROUNDS)",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rounds"] is not None and options["rounds"] < 0:
            raise CommandError("--rounds must be 0 or more.")
        source = report_source_get(options["source"])
        dimension = report_dimension_get(options["dimension"])
        version = version_get(source, options["judge_version"])
        card = report_card_for_source(source, dimension, version=version, rounds=options["rounds"])
        if options["json"]:
            self.stdout.write(json.dumps(card, indent=2))
            return
        title = f"{card['source_name']} ({card['source']}"
        title += f", version {card['version']}, model {card['judge_model']})" if card["version"] else ")"
        self.stdout.write(f"{title} on {dimension.slug}")
        for name in FIGURES:
            f = card["figures"][name]
            interval = "" if f["low"] is None else f"  [{f['low']:.3f}, {f['high']:.3f}]"
            value = "—" if f["value"] is None else f"{f['value']:.3f}"
            self.stdout.write(f"  {name:<26} {value:>9}{interval}  n={f['n']}")
