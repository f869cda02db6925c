"""Load the demo arena into the database; safe to run twice (existing rows are kept)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from arena.demo.content import CONTENDERS, CONVERSATIONS, PROMPTS, answer, conversation_answer
from arena.models import Contender, Dimension, Output, Prompt, PromptSet
from arena.services.battles import battles_ensure_all_pairs
from arena.services.outputs import output_build

PROMPT_SET_SLUG = "arena-starter"
CONVERSATION_SET_SLUG = "arena-conversations"


@dataclass(frozen=True)
class DemoSummary:
    prompt_set: PromptSet
    contenders: int
    outputs: int
    battles_created: int


def _prompt_set() -> PromptSet:
    prompt_set, created = PromptSet.objects.get_or_create(
        slug=PROMPT_SET_SLUG,
        defaults={
            "name": "Arena starter",
            "description": "Sixteen short questions with reference answers, in six categories.",
        },
    )
    if created:  # people may vote on every dimension (overall is always asked); staff can narrow it down
        prompt_set.vote_dimensions.set(Dimension.objects.filter(is_active=True).exclude(slug="overall"))
    for p in PROMPTS:
        Prompt.objects.get_or_create(
            prompt_set=prompt_set,
            external_id=p.id,
            defaults={"text": p.text, "category": p.category, "reference_answer": p.reference},
        )
    return prompt_set


def _conversation_set() -> PromptSet:
    """Two-turn prompts: the voting and battle pages show them turn by turn, judges judge them whole."""
    prompt_set, created = PromptSet.objects.get_or_create(
        slug=CONVERSATION_SET_SLUG,
        defaults={
            "name": "Arena conversations",
            "description": "Three two-turn conversations: a question, then a follow-up on the model's answer.",
        },
    )
    if created:
        prompt_set.vote_dimensions.set(Dimension.objects.filter(is_active=True).exclude(slug="overall"))
    for c in CONVERSATIONS:
        first, *later = c.turns
        Prompt.objects.get_or_create(
            prompt_set=prompt_set,
            external_id=c.id,
            defaults={
                "text": first,
                "later_turns": later,
                "category": c.category,
                "reference_answer": c.reference,
            },
        )
    return prompt_set


def _conversation_outputs(contender: Contender, profile: dict, prompt_set: PromptSet) -> int:
    rng = random.Random(f"{contender.slug}:conversations")
    styles, weights = zip(*profile["styles"].items(), strict=True)
    prompts = {p.external_id: p for p in prompt_set.prompts.all()}
    rows = []
    for conversation in CONVERSATIONS:
        first, *later = conversation_answer(conversation, rng.choices(styles, weights)[0])
        rows.append(
            output_build(
                contender=contender, prompt=prompts[conversation.id], text=first, later_replies=later
            )
        )
    return len(Output.objects.bulk_create(rows, ignore_conflicts=True))


def _contender(profile: dict, submitter) -> Contender:
    status = Contender.Status.PENDING if profile.get("pending") else Contender.Status.APPROVED
    contender, _ = Contender.objects.get_or_create(
        slug=profile["slug"],
        defaults={
            "name": profile["name"],
            "organization": profile["organization"],
            "license": profile["license"],
            "description": f"A demo contender whose answers are mostly {max(profile['styles'], key=profile['styles'].get)}.",
            "status": status,
            "submitted_by": submitter,
        },
    )
    return contender


def _outputs(contender: Contender, profile: dict, prompt_set: PromptSet) -> int:
    rng = random.Random(contender.slug)
    styles, weights = zip(*profile["styles"].items(), strict=True)
    prompts = {p.external_id: p for p in prompt_set.prompts.all()}
    rows = []
    for demo_prompt in PROMPTS:
        style = rng.choices(styles, weights)[0]
        text = answer(demo_prompt, style)
        rows.append(output_build(contender=contender, prompt=prompts[demo_prompt.id], text=text))
    return len(Output.objects.bulk_create(rows, ignore_conflicts=True))


@transaction.atomic
def demo_load(*, submitter_username: str = "demo-submitter") -> DemoSummary:
    submitter, _ = get_user_model().objects.get_or_create(username=submitter_username)
    prompt_set = _prompt_set()
    contenders = [(_contender(profile, submitter), profile) for profile in CONTENDERS]
    conversations = _conversation_set()
    n_outputs = sum(_outputs(c, profile, prompt_set) for c, profile in contenders)
    n_outputs += sum(_conversation_outputs(c, profile, conversations) for c, profile in contenders)
    approved = [c.pk for c, _ in contenders if c.status == Contender.Status.APPROVED]
    created = battles_ensure_all_pairs(prompt_set_id=prompt_set.pk, contender_ids=approved, seed=7)
    created += battles_ensure_all_pairs(prompt_set_id=conversations.pk, contender_ids=approved, seed=7)
    return DemoSummary(
        prompt_set=prompt_set, contenders=len(contenders), outputs=n_outputs, battles_created=created
    )
