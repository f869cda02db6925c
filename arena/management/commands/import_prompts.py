from pathlib import Path

from django.core.management.base import CommandError

from arena.error_responses import DomainErrorsAsCommandErrors
from arena.services.prompts import prompts_import
from arena.services.uploads import PROMPT_FORMATS


class Command(DomainErrorsAsCommandErrors):
    help = (
        "Import prompts into a prompt set from JSON lines: the arena's own (id, text or turns, category, "
        "optional reference, language, system), MT-Bench question.jsonl or OpenAI messages; all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--prompt-set", required=True, help="Slug of the prompt set (created if missing)."
        )
        parser.add_argument(
            "--format", choices=PROMPT_FORMATS, help="Default: detected from the file's first record."
        )

    def handle(self, *args, file: Path, prompt_set: str, format: str | None, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        result = prompts_import(prompt_set_slug=prompt_set, data=data, filename=str(file), fmt=format)
        self.stdout.write(f"Imported {result.created} prompts into {result.prompt_set.slug}.")
