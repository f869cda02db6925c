from pathlib import Path

from django.core.management.base import CommandError

from arena.error_responses import DomainErrorsAsCommandErrors
from arena.services.contenders import contender_get
from arena.services.outputs import outputs_import
from arena.services.prompts import prompt_set_get
from arena.services.uploads import OUTPUT_FORMATS


class Command(DomainErrorsAsCommandErrors):
    help = (
        "Import a contender's outputs for a prompt set (JSONL, AlpacaEval JSON, MT-Bench answers or OpenAI "
        "messages; see docs/conversations.md); all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--contender", required=True, help="Slug of an existing contender.")
        parser.add_argument("--prompt-set", required=True, help="Slug of an existing prompt set.")
        parser.add_argument("--format", choices=OUTPUT_FORMATS, help="Default: detected from the file.")

    def handle(self, *args, file: Path, contender: str, prompt_set: str, format: str | None, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        result = outputs_import(
            contender=contender_get(slug=contender),
            prompt_set=prompt_set_get(slug=prompt_set),
            data=data,
            filename=str(file),
            fmt=format,
        )
        self.stdout.write(f"Imported {result.created} outputs for {contender} on {prompt_set}.")
