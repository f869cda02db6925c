"""Prompt sets and importing prompts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from arena.errors import Invalid, NotFound
from arena.models import Prompt, PromptSet
from arena.services.contenders import _check_slug
from arena.services.lengths import lengths_check
from arena.services.uploads import decode_upload, parse_prompt_records


@dataclass(frozen=True)
class PromptImportResult:
    prompt_set: PromptSet
    created: int


def prompt_set_get(*, slug: str) -> PromptSet:
    try:
        return PromptSet.objects.get(slug=slug)
    except PromptSet.DoesNotExist:
        raise NotFound(f"No prompt set with slug {slug!r}.", field="prompt_set") from None


def prompts_import(
    *, prompt_set_slug: str, data: bytes, filename: str, create_set: bool = True, fmt: str | None = None
) -> PromptImportResult:
    """Import prompts, single- or multi-turn, from JSON lines: the arena's own (`id`, `text` or `turns`,
    `category`, optional `reference`, `language`, `system`), MT-Bench's `question.jsonl` or OpenAI `messages`
    lines (`fmt` "jsonl", "mt_bench", "messages"; None detects it from the first record).

    All or nothing: any bad line, a repeated id (in the file or already in the set) rolls back everything.
    """
    _check_slug(prompt_set_slug)
    records = parse_prompt_records(decode_upload(data, filename=filename), filename=filename, fmt=fmt)
    seen: dict[str, str] = {}
    for rec in records:
        if not rec.external_id:
            raise Invalid(f"{filename}, {rec.where}: field 'id' is empty.", field="id")
        if not rec.text.strip():
            raise Invalid(f"{filename}, {rec.where}: field 'text' is empty.", field="text")
        if rec.external_id in seen:
            raise Invalid(
                f"{filename}, {rec.where}: prompt id {rec.external_id!r} repeats {seen[rec.external_id]}."
            )
        seen[rec.external_id] = rec.where
        lengths_check(
            Prompt,
            {"external_id": rec.external_id, "category": rec.category, "language": rec.language},
            where=f"{filename}, {rec.where}: field ",
        )
    with transaction.atomic():
        if create_set:
            prompt_set, _ = PromptSet.objects.get_or_create(
                slug=prompt_set_slug, defaults={"name": prompt_set_slug}
            )
        else:
            prompt_set = prompt_set_get(slug=prompt_set_slug)
        existing = set(prompt_set.prompts.filter(external_id__in=seen).values_list("external_id", flat=True))
        for rec in records:
            if rec.external_id in existing:
                raise Invalid(
                    f"{filename}, {rec.where}: prompt id {rec.external_id!r} is already in prompt set "
                    f"{prompt_set.slug!r}; prompts are immutable once imported."
                )
        Prompt.objects.bulk_create(
            Prompt(
                prompt_set=prompt_set,
                external_id=rec.external_id,
                text=rec.text,
                later_turns=list(rec.later_turns),
                system_message=rec.system_message,
                category=rec.category,
                language=rec.language or "en",
                reference_answer=rec.reference_answer,
            )
            for rec in records
        )
    return PromptImportResult(prompt_set=prompt_set, created=len(records))
