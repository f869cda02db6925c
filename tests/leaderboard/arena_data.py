"""Arenas with verdicts for leaderboard tests: contenders, prompts in categories, battles and random verdicts.

Verdicts are bulk-created with the same fields the verdict ledger writes (contenders copied from the battle,
score matching the outcome), so the database's constraints still check them.
"""

from __future__ import annotations

import importlib
import itertools
import random
from dataclasses import dataclass

from arena.models import Battle, Contender, Dimension, Output, Prompt, PromptSet, Source, Verdict
from arena.services.battles import people_source, source_get_or_create
from arena.services.style import style_counts
from tests.support import factories

OUTCOME_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
STYLES = [
    "Short answer {n}.",
    "# Heading\n\nA longer answer {n} with **bold** words and\n\n- a list\n- of items\n",
    "A medium answer {n}, with a **bold** word, written in one plain paragraph of prose.",
]


@dataclass
class Arena:
    contenders: list[Contender]
    prompt_set: PromptSet
    battles: list[Battle]


def dimensions_ensure() -> None:
    """Transactional tests flush the dimensions the migration seeded; put them back as it wrote them."""
    seeded = importlib.import_module("arena.migrations.0002_seed_dimensions").DIMENSIONS
    for position, (slug, name, rubric) in enumerate(seeded):
        Dimension.objects.get_or_create(
            slug=slug, defaults={"name": name, "rubric": rubric, "position": position}
        )


def arena_make(
    slugs=("alpha", "beta", "gamma", "delta"),
    *,
    n_prompts: int = 6,
    categories=("math", "writing"),
    statuses: dict[str, str] | None = None,
    set_slug: str = "lb-set",
) -> Arena:
    """Contenders answering every prompt, and one battle per pair per prompt (sides alternating)."""
    dimensions_ensure()
    statuses = statuses or {}
    prompt_set = PromptSet.objects.create(slug=set_slug, name=set_slug)
    prompts = [
        Prompt.objects.create(
            prompt_set=prompt_set,
            external_id=f"p{i}",
            text=f"Question {i}?",
            category=categories[i % len(categories)] if categories else "",
        )
        for i in range(n_prompts)
    ]
    contenders = [
        factories.make_contender(
            slug, status=statuses.get(slug, "approved"), organization=f"{slug} labs", license="MIT"
        )
        for slug in slugs
    ]
    outputs = {}
    for k, (contender, prompt) in enumerate(itertools.product(contenders, prompts)):
        text = STYLES[(k * 7 + len(contender.slug)) % len(STYLES)].format(n=k)
        outputs[contender.pk, prompt.pk] = Output.objects.create(
            contender=contender, prompt=prompt, text=text, **style_counts(text)
        )
    battles = []
    for i, prompt in enumerate(prompts):
        for first, second in itertools.combinations(contenders, 2):
            a, b = (first, second) if i % 2 == 0 else (second, first)
            battles.append(
                Battle.objects.create(
                    prompt=prompt,
                    output_a=outputs[a.pk, prompt.pk],
                    output_b=outputs[b.pk, prompt.pk],
                    contender_a=a,
                    contender_b=b,
                )
            )
    return Arena(contenders, prompt_set, battles)


def judge_source(key: str = "judge-gpt", name: str = "GPT judge") -> Source:
    return source_get_or_create(kind=Source.Kind.JUDGE, key=key, name=name)


def verdicts_add(
    battles: list[Battle],
    *,
    source: Source | None = None,
    dimension: str = "overall",
    seed: int = 0,
    votes_per_battle: int = 3,
    strengths: dict[str, float] | None = None,
    soft_share: float = 0.0,
    excluded_share: float = 0.0,
    outcomes: tuple[str, ...] = ("a", "b", "tie", "both_bad"),
) -> list[Verdict]:
    """Random verdicts: the stronger contender (by `strengths`, default by slug order) tends to win.

    Soft verdicts get dyadic scores (k/8) so that sums are exact in floating point.
    """
    rng = random.Random(seed)
    source = source or people_source()
    dim = Dimension.objects.get(slug=dimension)
    voters = votes_per_battle if source.kind == Source.Kind.HUMAN else 1
    rows = []
    for battle in battles:
        for v in range(voters):
            outcome, score = _draw(rng, battle, strengths, soft_share, outcomes)
            rows.append(
                Verdict(
                    battle=battle,
                    dimension=dim,
                    source=source,
                    contender_a_id=battle.contender_a_id,
                    contender_b_id=battle.contender_b_id,
                    voter_key=f"s:voter{v}" if source.kind == Source.Kind.HUMAN else "",
                    outcome=outcome,
                    score=score,
                    excluded=rng.random() < excluded_share,
                )
            )
    return Verdict.objects.bulk_create(rows)


def _draw(rng, battle, strengths, soft_share, outcomes) -> tuple[str | None, float]:
    if rng.random() < soft_share:
        return None, rng.randint(0, 8) / 8
    strength = strengths or {}
    a = strength.get(battle.contender_a.slug, -ord(battle.contender_a.slug[0]))
    b = strength.get(battle.contender_b.slug, -ord(battle.contender_b.slug[0]))
    p_a = 1 / (1 + 10 ** ((b - a) / 8))
    draw = rng.random()
    if draw < 0.15 and ("tie" in outcomes or "both_bad" in outcomes):
        return rng.choice([o for o in ("tie", "both_bad") if o in outcomes]), 0.5
    outcome = "a" if rng.random() < p_a else "b"
    return outcome, OUTCOME_SCORE[outcome]
