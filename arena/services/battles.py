"""Creating battles, and the sources verdicts on them come from (verdicts themselves: arena.services.verdicts)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from arena.errors import Invalid
from arena.models import Battle, Output, Source


def battle_get_or_create(*, output_a: Output, output_b: Output) -> tuple[Battle, bool]:
    """The battle of these two outputs in this order (A shown first); created if missing."""
    if output_a.prompt_id != output_b.prompt_id:
        raise Invalid("A battle needs two outputs on the same prompt.")
    if output_a.contender_id == output_b.contender_id:
        raise Invalid("A battle needs outputs of two different contenders.")
    try:
        with transaction.atomic():
            return Battle.objects.get_or_create(
                output_a=output_a,
                output_b=output_b,
                defaults={
                    "prompt_id": output_a.prompt_id,
                    "contender_a_id": output_a.contender_id,
                    "contender_b_id": output_b.contender_id,
                },
            )
    except IntegrityError:  # a concurrent writer created it first
        return Battle.objects.get(output_a=output_a, output_b=output_b), False


def source_get_or_create(*, kind: str, key: str, name: str) -> Source:
    source, _ = Source.objects.get_or_create(key=key, defaults={"kind": kind, "name": name})
    return source


def people_source() -> Source:
    return source_get_or_create(kind=Source.Kind.HUMAN, key="people", name="People")


def battles_ensure_all_pairs(*, prompt_set_id: int, contender_ids: list[int], seed: int = 0) -> int:
    """Make sure every pair of the given contenders has a battle on every prompt both answered.

    Which side a contender is shown on is drawn at random (seeded, so reruns find the same battles).
    Returns how many battles were created; idempotent.
    """
    import random

    rng = random.Random(seed)
    outputs = Output.objects.filter(
        prompt__prompt_set_id=prompt_set_id, contender_id__in=contender_ids
    ).order_by("prompt_id", "contender_id")
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    created = 0
    for answers in by_prompt.values():
        for i, first in enumerate(answers):
            for second in answers[i + 1 :]:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                if Battle.objects.filter(output_a__in=[a, b], output_b__in=[a, b]).exists():
                    continue
                created += battle_get_or_create(output_a=a, output_b=b)[1]
    return created
