"""``manage.py import_battles FILE [FILE ...] --format fastchat|csv|alpaca_eval|qlora|mtbench``:
battles into the database.

Thin: the import service does the work in one transaction (nothing is written if anything is wrong);
this command turns its `Invalid` into a `CommandError` and prints what was created. New contenders are
created pending review unless --approve-new; run `recompute_leaderboards` afterwards to see the ratings.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from arena.error_responses import command_error
from arena.errors import DomainError
from leaderboard.services.importing import IMPORT_FORMATS, battles_import


class Command(BaseCommand):
    help = "Import battle files as verdicts of an import source on the 'overall' dimension (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="battle files, read in the order given")
        parser.add_argument("--format", dest="file_format", choices=IMPORT_FORMATS, required=True)
        parser.add_argument(
            "--source", metavar="KEY", help="source key (default: import-<first file's name>)"
        )
        parser.add_argument("--source-name", metavar="NAME", help="source name shown on the leaderboard")
        parser.add_argument(
            "--approve-new",
            action="store_true",
            help="create new contenders approved instead of pending review",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = battles_import(
                paths=options["files"],
                file_format=options["file_format"],
                source_key=options["source"],
                source_name=options["source_name"],
                approve_new=options["approve_new"],
            )
        except DomainError as error:
            raise command_error(error, after="Nothing was imported.") from error
        self.stdout.write(
            f"Imported {result.records} records into source {result.source.key!r}: {result.verdicts_created} new "
            f"verdicts, {result.battles_created} new battles, prompt set {result.prompt_set.slug!r}."
        )
        if result.contenders_created:
            self.stdout.write(f"New contenders: {', '.join(result.contenders_created)}.")
        if result.contenders_pending:
            self.stdout.write(
                f"Pending review (not on public leaderboards until approved, e.g. in the admin, or import with "
                f"--approve-new): {', '.join(result.contenders_pending)}."
            )
