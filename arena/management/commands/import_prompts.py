from pathlib import Path

from django.core.management.base import CommandError

from arena.error_responses import DomainErrorsAsCommandErrors
from arena.services.prompts import prompts_import


class Command(DomainErrorsAsCommandErrors):
    help = "Import prompts from JSONL (id, text, category, optional reference, language) into a prompt set."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--prompt-set", required=True, help="Slug of the prompt set (created if missing)."
        )

    def handle(self, *args, file: Path, prompt_set: str, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        result = prompts_import(prompt_set_slug=prompt_set, data=data, filename=str(file))
        self.stdout.write(f"Imported {result.created} prompts into {result.prompt_set.slug}.")
