"""``manage.py export_outputs --contender SLUG [--format alpaca_eval|jsonl] [--prompt-set SLUG]``.

Thin: parameters are checked by `arena.services.output_export` (a bad one is a one-line error, nothing
written); the outputs stream to stdout or, with ``--output``, to a file written whole or not at all. The
operator has the database, so every output is included (staff's view).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from arena.error_responses import command_error
from arena.errors import DomainError
from arena.models import Contender
from arena.services.files import text_write_atomically
from arena.services.output_export import OUTPUT_FORMATS, output_chunks, output_format_parse


class Command(BaseCommand):
    help = "Export a contender's outputs as AlpacaEval JSON or JSON lines (for other evaluators)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contender", required=True, metavar="SLUG")
        parser.add_argument("--format", dest="file_format", choices=OUTPUT_FORMATS, default="jsonl")
        parser.add_argument("--prompt-set", metavar="SLUG", help="only this prompt set (default: all)")
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        contender = Contender.objects.filter(slug=options["contender"]).first()
        if contender is None:
            raise CommandError(f"No contender with slug {options['contender']!r}. Nothing was exported.")
        try:
            fmt, prompt_set = output_format_parse(
                {"format": options["file_format"], "prompt_set": options["prompt_set"]}
            )
            chunks = output_chunks(contender, fmt=fmt, prompt_set=prompt_set, sees_blind=True)
        except DomainError as error:
            raise command_error(error, after="Nothing was exported.") from error
        if not options["output"]:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        try:
            text_write_atomically(Path(options["output"]), chunks)
        except DomainError as error:
            raise command_error(error, before="--output", after="Nothing was exported.") from error
