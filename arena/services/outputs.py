"""Importing a contender's outputs for a prompt set (JSONL or AlpacaEval JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from arena.errors import Invalid
from arena.models import Contender, Output, Prompt, PromptSet
from arena.services.identity_leaks import identity_leak_find
from arena.services.style import style_counts
from arena.services.uploads import OutputRecord, Problems, decode_upload, parse_output_records


@dataclass(frozen=True)
class OutputImportResult:
    contender: Contender
    prompt_set: PromptSet
    created: int


class _PromptIndex:
    """Find prompts of one set by external id or by exact (whitespace-trimmed) text."""

    def __init__(self, prompt_set: PromptSet) -> None:
        self.prompt_set = prompt_set
        self.by_id: dict[str, Prompt] = {}
        self.by_text: dict[str, list[Prompt]] = {}
        for prompt in prompt_set.prompts.all():
            self.by_id[prompt.external_id] = prompt
            self.by_text.setdefault(prompt.text.strip(), []).append(prompt)

    def find(self, rec: OutputRecord, filename: str) -> Prompt:
        set_slug = self.prompt_set.slug
        if rec.prompt_id is not None:
            prompt = self.by_id.get(rec.prompt_id.strip())
            if prompt is None:
                raise Invalid(
                    f"{filename}, {rec.where}: unknown prompt id {rec.prompt_id!r} in prompt set {set_slug!r}."
                )
            return prompt
        matches = self.by_text.get((rec.prompt_text or "").strip(), [])
        if not matches:
            snippet = (rec.prompt_text or "")[:60]
            raise Invalid(f"{filename}, {rec.where}: no prompt in set {set_slug!r} has the text {snippet!r}.")
        if len(matches) > 1:
            raise Invalid(
                f"{filename}, {rec.where}: several prompts in {set_slug!r} share this text; use prompt_id."
            )
        return matches[0]


def _check_generator(rec: OutputRecord, contender: Contender, filename: str) -> None:
    if rec.generator is not None and rec.generator not in (contender.slug, contender.name):
        raise Invalid(
            f"{filename}, {rec.where}: generator {rec.generator!r} is not contender {contender.slug!r}; "
            "upload each model's outputs to its own contender (or fix the generator field)."
        )


def _record_prompt(
    rec: OutputRecord, index: _PromptIndex, contender: Contender, chosen: dict[int, str], filename: str
) -> Prompt:
    """The prompt `rec` answers, or an `Invalid` saying why the record cannot be imported."""
    _check_generator(rec, contender, filename)
    prompt = index.find(rec, filename)
    if prompt.pk in chosen:
        raise Invalid(
            f"{filename}, {rec.where}: prompt {prompt.external_id!r} was already answered at {chosen[prompt.pk]}."
        )
    if not rec.output.strip():
        raise Invalid(f"{filename}, {rec.where}: the output for prompt {prompt.external_id!r} is empty.")
    return prompt


def output_build(*, contender: Contender, prompt: Prompt, text: str) -> Output:
    """An unsaved Output with its style counts and identity-leak check: every writer of outputs builds them here."""
    leak = identity_leak_find(contender=contender, text=text)
    return Output(contender=contender, prompt=prompt, text=text, identity_leak=leak, **style_counts(text))


def outputs_import(
    *, contender: Contender, prompt_set: PromptSet, data: bytes, filename: str, fmt: str | None = None
) -> OutputImportResult:
    """Attach outputs to prompts; all or nothing.

    Rejected as a whole: malformed records, unknown prompts, a prompt answered twice in the file, an empty
    output, a prompt the contender has already answered (outputs are immutable once battles may use them).
    Every bad record is named in the one `Invalid` raised (up to `uploads.MAX_PROBLEMS`).
    """
    text = decode_upload(data, filename=filename)
    problems = Problems(filename)
    records = parse_output_records(text, fmt=fmt, filename=filename, problems=problems)
    index = _PromptIndex(prompt_set)
    chosen: dict[int, str] = {}
    rows = []
    for rec in records:
        prompt = problems.check(_record_prompt, rec, index, contender, chosen, filename)
        if prompt is None:
            continue
        chosen[prompt.pk] = rec.where
        rows.append(output_build(contender=contender, prompt=prompt, text=rec.output))
    problems.raise_if_any()
    with transaction.atomic():
        answered = set(
            Output.objects.filter(contender=contender, prompt_id__in=chosen).values_list(
                "prompt_id", flat=True
            )
        )
        for row in rows:
            if row.prompt_id in answered:
                problems.add(
                    Invalid(
                        f"{filename}, {chosen[row.prompt_id]}: contender {contender.slug!r} already has an "
                        f"output for prompt {row.prompt.external_id!r}; outputs cannot be replaced."
                    )
                )
        problems.raise_if_any()
        Output.objects.bulk_create(rows)
    return OutputImportResult(contender=contender, prompt_set=prompt_set, created=len(rows))


def output_counts_by_set(*, contender: Contender) -> list[dict]:
    """Per prompt set: how many of its prompts this contender has answered."""
    from django.db.models import Count, Q

    return list(
        PromptSet.objects.annotate(
            n_prompts=Count("prompts", distinct=True),
            n_outputs=Count(
                "prompts__outputs", filter=Q(prompts__outputs__contender=contender), distinct=True
            ),
        )
        .filter(n_outputs__gt=0)
        .values("slug", "name", "n_prompts", "n_outputs")
    )
