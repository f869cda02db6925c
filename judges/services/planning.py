"""Pairing plans: which battles a campaign judges. Pure reads; nothing is written until the campaign starts.

Plans, per prompt of the set, among the contenders that answered it:
- all-pairs: every pair;
- baseline: each contender against the baseline;
- random-k: each contender against k opponents drawn at random (seeded), pairs counted once;
- adaptive: the k pairs a pluggable priority hook ranks first, on every prompt both answered. The hook is the
  setting `JUDGES_PAIR_PRIORITY`: the dotted path of a function
  `pair_priority(contender_ids, dimension) -> {(i, j): score}` (i < j, higher = judge first), the judges'
  counterpart of voting's `ARENA_VOTE_PAIR_PRIORITY`. The leaderboard can provide one that ranks pairs by how
  much their rating intervals overlap (where a verdict is most informative); the default,
  `fewest_verdicts_first`, needs no ratings and simply favours the pairs with the fewest verdicts.

A pair that already has a battle on a prompt reuses it, whichever side each contender was shown on; a new
battle gets its sides from a seeded draw, so an estimate and the start that follows it agree.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count
from django.utils.module_loading import import_string

from arena.models import Battle, Output, Verdict

Pair = tuple[int, int]


@dataclass(frozen=True)
class PlannedBattle:
    output_a: Output
    output_b: Output
    battle_id: int | None  # None: the battle does not exist yet and is created at start


def battles_plan(
    *, prompt_set_id: int, contender_ids: list[int], plan: str, baseline_id: int | None, k: int, seed: int,
    dimension: str,
) -> list[PlannedBattle]:  # fmt: skip
    answers = _answers_by_prompt(prompt_set_id, contender_ids)
    existing = _existing_battles(list(answers), contender_ids)
    chosen = _chosen_pairs(plan, contender_ids, baseline_id, k, dimension)
    planned = []
    for prompt_id, by_contender in answers.items():
        rng = random.Random(f"{seed}:{prompt_id}")
        for i, j in _pairs_on_prompt(plan, sorted(by_contender), baseline_id, k, rng, chosen):
            first, second = by_contender[i], by_contender[j]
            found = existing.get(frozenset((first.pk, second.pk)))
            if found is not None:
                battle_id, a_id = found
                a, b = (first, second) if a_id == first.pk else (second, first)
                planned.append(PlannedBattle(a, b, battle_id))
            else:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                planned.append(PlannedBattle(a, b, None))
    return planned


def _answers_by_prompt(prompt_set_id: int, contender_ids: list[int]) -> dict[int, dict[int, Output]]:
    outputs = Output.objects.filter(prompt__prompt_set_id=prompt_set_id, contender_id__in=contender_ids)
    by_prompt: dict[int, dict[int, Output]] = {}
    for output in outputs.select_related("prompt").order_by("prompt_id", "contender_id"):
        by_prompt.setdefault(output.prompt_id, {})[output.contender_id] = output
    return by_prompt


def _existing_battles(prompt_ids: list[int], contender_ids: list[int]) -> dict[frozenset, tuple[int, int]]:
    rows = Battle.objects.filter(
        prompt_id__in=prompt_ids, contender_a_id__in=contender_ids, contender_b_id__in=contender_ids
    ).values_list("pk", "output_a_id", "output_b_id")
    return {frozenset((a, b)): (pk, a) for pk, a, b in rows}


def _chosen_pairs(plan: str, ids: list[int], baseline_id: int | None, k: int, dimension: str) -> set[Pair]:
    """Pairs fixed for the whole campaign (adaptive only); other plans choose per prompt."""
    if plan != "adaptive":
        return set()
    scores = import_string(settings.JUDGES_PAIR_PRIORITY)(sorted(ids), dimension)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return {(min(pair), max(pair)) for pair, _ in ranked[:k]}


def _pairs_on_prompt(
    plan: str, answered: list[int], baseline_id: int | None, k: int, rng: random.Random, chosen: set[Pair]
) -> list[Pair]:
    if plan == "all-pairs":
        return list(itertools.combinations(answered, 2))
    if plan == "baseline":
        if baseline_id not in answered:
            return []
        return [(min(c, baseline_id), max(c, baseline_id)) for c in answered if c != baseline_id]
    if plan == "random-k":
        pairs: set[Pair] = set()
        for contender in answered:
            others = [c for c in answered if c != contender]
            for other in rng.sample(others, min(k, len(others))):
                pairs.add((min(contender, other), max(contender, other)))
        return sorted(pairs)
    if plan == "adaptive":
        return [pair for pair in itertools.combinations(answered, 2) if pair in chosen]
    raise ValueError(f"unknown pairing plan {plan!r}")


def fewest_verdicts_first(contender_ids: list[int], dimension: str) -> dict[Pair, float]:
    """Default pair-priority hook: 1 / (1 + verdicts so far) per pair on `dimension`, all sources counted."""
    counts = (
        Verdict.objects.filter(
            dimension__slug=dimension,
            excluded=False,
            contender_a_id__in=contender_ids,
            contender_b_id__in=contender_ids,
        )
        .values_list("contender_a_id", "contender_b_id")
        .annotate(n=Count("pk"))
    )
    seen: dict[Pair, int] = {}
    for a, b, n in counts:
        pair = (min(a, b), max(a, b))
        seen[pair] = seen.get(pair, 0) + n
    return {pair: 1.0 / (1 + seen.get(pair, 0)) for pair in itertools.combinations(sorted(contender_ids), 2)}
