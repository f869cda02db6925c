"""Prompt sets as public documents: their prompts as JSONL records, an outputs template, and who answered.

Prompt texts are public (submitters need them); reference answers only when the set's `show_references` is
on; answers never appear here, only counts of them, and only for approved contenders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Q

from arena.models import Contender, Output, Prompt, PromptSet


def prompt_record(prompt: Prompt, *, with_reference: bool) -> dict:
    """One prompt as `import_prompts` reads it back: id, category, language, text (and reference); a
    multi-turn prompt has `turns` (every user turn) instead of `text`, and a system message `system`."""
    record: dict = {"id": prompt.external_id, "category": prompt.category, "language": prompt.language}
    if prompt.is_multi_turn:
        record["turns"] = prompt.user_turns
    else:
        record["text"] = prompt.text
    if prompt.system_message:
        record["system"] = prompt.system_message
    if with_reference:
        record["reference"] = prompt.reference_answer
    return record


def prompts_ordered(prompt_set: PromptSet):
    return prompt_set.prompts.order_by("id")


def prompts_jsonl(prompt_set: PromptSet) -> Iterator[str]:
    """The set's prompts, one JSON object a line, in import order (references only when the set shows them)."""
    for prompt in prompts_ordered(prompt_set).iterator():
        record = prompt_record(prompt, with_reference=prompt_set.show_references)
        yield json.dumps(record, ensure_ascii=False) + "\n"


def outputs_template_jsonl(prompt_set: PromptSet) -> Iterator[str]:
    """One line per prompt, ready to fill in and upload: prompt_id, the prompt (for reading) and an empty
    output. Uploaded unchanged it is refused, every empty output named by its line. A multi-turn prompt also
    lists its `turns`, and its `output` is a list of empty replies, one per turn."""
    for prompt in prompts_ordered(prompt_set).iterator():
        record: dict = {"prompt_id": prompt.external_id, "prompt": prompt.text, "output": ""}
        if prompt.is_multi_turn:
            record["turns"] = prompt.user_turns
            record["output"] = [""] * len(prompt.user_turns)
        yield json.dumps(record, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Answered:
    slug: str
    name: str
    n_outputs: int


@dataclass(frozen=True)
class PromptSetSummary:
    prompt_set: PromptSet
    n_prompts: int
    categories: list[tuple[str, int]]  # (category, prompts), "" for uncategorised
    answered: list[Answered]  # approved contenders with at least one output, most outputs first


def prompt_set_summary(prompt_set: PromptSet) -> PromptSetSummary:
    categories = list(prompt_set.prompts.values_list("category").annotate(n=Count("id")).order_by("category"))
    answered = (
        Output.objects.filter(prompt__prompt_set=prompt_set, contender__status=Contender.Status.APPROVED)
        .values_list("contender__slug", "contender__name")
        .annotate(n=Count("id"))
        .order_by("-n", "contender__name")
    )
    return PromptSetSummary(
        prompt_set=prompt_set,
        n_prompts=sum(n for _, n in categories),
        categories=categories,
        answered=[Answered(slug, name, n) for slug, name, n in answered],
    )


def prompt_sets_listed():
    """Every prompt set with its number of prompts (`n_prompts`), by name."""
    return PromptSet.objects.annotate(n_prompts=Count("prompts", distinct=True)).order_by("name")


@dataclass(frozen=True)
class SetCoverage:
    prompt_set: PromptSet
    n_prompts: int
    n_answered: int

    @property
    def complete(self) -> bool:
        return self.n_prompts > 0 and self.n_answered >= self.n_prompts


def contender_coverage(contender: Contender) -> list[SetCoverage]:
    """For every prompt set: how many of its prompts the contender has answered (0 where none)."""
    sets = PromptSet.objects.annotate(
        n_prompts=Count("prompts", distinct=True),
        n_answered=Count("prompts__outputs", filter=Q(prompts__outputs__contender=contender), distinct=True),
    ).order_by("name")
    return [SetCoverage(s, s.n_prompts, s.n_answered) for s in sets]
