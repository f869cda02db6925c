"""``manage.py import_judgments PATH --format qlora|mtbench --source KEY``: an outside judgment study in.

Thin: `judges.services.judgment_import` does the work in one transaction (nothing is written if anything is
wrong); this command turns its `Invalid` into a `CommandError` and prints what was created. Then
`judge_report --source KEY` shows the imported judge's report card.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from arena.error_responses import command_error
from arena.errors import DomainError
from judges.judgment_files import JUDGMENT_FORMATS
from judges.services.judgment_import import judgments_import


class Command(BaseCommand):
    help = "Import a pairwise judgment study (both orders, answers, verdicts) under a judge source (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", metavar="PATH", help="the study's folder (qlora, mtbench) or judgment file (mtbench)"
        )
        parser.add_argument("--format", dest="file_format", choices=JUDGMENT_FORMATS, required=True)
        parser.add_argument(
            "--source", metavar="KEY", required=True, help="key of the judge source to create or extend"
        )
        parser.add_argument("--source-name", metavar="NAME", help="name shown on the judges pages")
        parser.add_argument(
            "--approve-new",
            action="store_true",
            help="create new contenders approved instead of pending review",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = judgments_import(
                path=options["path"],
                file_format=options["file_format"],
                source_key=options["source"],
                source_name=options["source_name"],
                approve_new=options["approve_new"],
            )
        except DomainError as error:
            raise command_error(error, after="Nothing was imported.") from error
        self.stdout.write(
            f"Imported {result.units} battles judged in both orders into judge source {result.source.key!r} "
            f"(judge {result.version.model}, version {result.version.number}): {result.judgments_created} new "
            f"judgments, {result.verdicts_created} new verdicts ({result.inconsistent} of the study's battles inconsistent across orders), prompt set "
            f"{result.prompt_set.slug!r}."
        )
        if result.contenders_created:
            self.stdout.write(f"New contenders: {', '.join(result.contenders_created)}.")
        if result.contenders_pending:
            self.stdout.write(
                "Pending review (not on public pages until approved, or import with --approve-new): "
                f"{', '.join(result.contenders_pending)}."
            )
