"""``manage.py export_battles``: the arena's verdicts as FastChat battles, JSON lines or CSV (see
`leaderboard.services.battle_export` for the records, the voter hashes and the blind-answer rule).

Thin: options are checked by the service's parser (a bad one is a one-line error and nothing is written),
records are streamed to stdout or, with ``--output``, to a temporary file renamed into place at the end, so a
failed export never leaves half a file. Whoever runs this has the database, so blind answers are included
unless ``--public`` asks for what a visitor would download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from arena.error_responses import command_error
from arena.errors import DomainError
from arena.services.files import text_write_atomically
from leaderboard.services.battle_export import EXPORT_FORMATS, battle_export_parse, export_chunks


class Command(BaseCommand):
    help = "Export the verdicts the leaderboards count, one record per verdict (fastchat, jsonl or csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=EXPORT_FORMATS,
            default="jsonl",
            help="fastchat: one JSON list of Chatbot Arena battles (hard outcomes only; `rate --format "
            "fastchat` and FastChat's notebooks read it); jsonl (default) and csv: every field",
        )
        parser.add_argument(
            "--source",
            action="append",
            metavar="KEY",
            help="only this source (repeat for several; default all)",
        )
        parser.add_argument(
            "--dimension", action="append", metavar="SLUG", help="only this dimension (repeat; default all)"
        )
        parser.add_argument(
            "--since", metavar="DATE", help="only verdicts from this date or time on (ISO 8601)"
        )
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
        parser.add_argument(
            "--public",
            action="store_true",
            help="withhold answers an open annotation task may serve, as for a visitor's download",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            export = battle_export_parse(
                {"format": options["file_format"], "since": options["since"]},
                lists={"source": options["source"] or [], "dimension": options["dimension"] or []},
            )
        except DomainError as error:
            raise command_error(error, after="Nothing was exported.") from error
        chunks = export_chunks(export, sees_blind=not options["public"])
        if options["output"]:
            try:
                text_write_atomically(Path(options["output"]), chunks)
            except DomainError as error:
                raise command_error(error, before="--output", after="Nothing was exported.") from error
        else:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
