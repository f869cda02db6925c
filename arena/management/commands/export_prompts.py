from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from arena.error_responses import command_error
from arena.errors import DomainError
from arena.services.prompt_sets import outputs_template_jsonl, prompts_jsonl
from arena.services.prompts import prompt_set_get


class Command(BaseCommand):
    help = (
        "Write a prompt set's prompts as JSONL (id, category, language, text; reference when the set shows "
        "references), or with --template an outputs template (prompt_id, prompt, empty output)."
    )

    def add_arguments(self, parser):
        parser.add_argument("prompt_set", help="Slug of the prompt set.")
        parser.add_argument("--output", "-o", type=Path, help="File to write (default: standard output).")
        parser.add_argument(
            "--template", action="store_true", help="Write the outputs template instead of the prompts."
        )

    def handle(self, *args, prompt_set: str, output: Path | None, template: bool, **options):
        try:
            chosen = prompt_set_get(slug=prompt_set)
        except DomainError as exc:
            raise command_error(exc, after="See /prompt-sets/ for the list.") from None
        lines = outputs_template_jsonl(chosen) if template else prompts_jsonl(chosen)
        if output is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        try:
            with output.open("w", encoding="utf-8") as handle:
                count = sum(handle.write(line) > 0 for line in lines)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
        what = "template lines" if template else "prompts"
        self.stderr.write(f"Wrote {count} {what} of {chosen.slug} to {output}.")
