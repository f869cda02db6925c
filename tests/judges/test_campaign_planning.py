"""Pairing plans and the estimate shown before a campaign starts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from arena.models import Battle, Contender
from judges.models import Judgment
from judges.services.campaigns import CampaignSpec, campaign_estimate
from judges.services.planning import fewest_verdicts_first
from judges.services.requests import JudgeTexts, judge_messages
from tests.judges.conftest import make_arena, make_judge, start_campaign

pytestmark = pytest.mark.django_db

SLUGS = ("alpha", "bravo", "charlie", "delta")


def pairs_of(prepared) -> list[frozenset]:
    return [frozenset((b.output_a.contender.slug, b.output_b.contender.slug)) for b in prepared.battles]


def estimate(plan="all-pairs", judges=("j",), contenders=SLUGS, **spec):
    data = CampaignSpec(
        contenders=list(contenders), prompt_set="judge-set", judges=list(judges), plan=plan, **spec
    )
    return campaign_estimate(spec=data)


@pytest.fixture
def arena_with_judge():
    """(prompt set, contenders): every contender answers every prompt; one priced judge config, `j`."""
    prompt_set, contenders = make_arena(n_prompts=3, slugs=SLUGS)
    make_judge("j", price_input_per_mtok=Decimal("3"), price_output_per_mtok=Decimal("15"), max_tokens=200)
    return prompt_set, contenders


def test_all_pairs_judges_every_pair_on_every_prompt(arena_with_judge):
    prepared = estimate()
    assert len(prepared.battles) == 6 * 3 and len(set(pairs_of(prepared))) == 6
    assert prepared.estimate.calls == 36  # both orders


def test_baseline_pairs_each_contender_with_the_baseline(arena_with_judge):
    prepared = estimate("baseline", baseline="alpha")
    assert set(pairs_of(prepared)) == {frozenset(("alpha", s)) for s in SLUGS[1:]}
    assert len(prepared.battles) == 9


def test_random_k_gives_each_contender_k_opponents_per_prompt_reproducibly(arena_with_judge):
    prepared = estimate("random-k", k=1, seed=3)
    assert pairs_of(prepared) == pairs_of(estimate("random-k", k=1, seed=3))
    by_prompt: dict[int, set[str]] = {}
    for battle in prepared.battles:
        by_prompt.setdefault(battle.output_a.prompt_id, set()).update(
            (battle.output_a.contender.slug, battle.output_b.contender.slug)
        )
    assert all(seen == set(SLUGS) for seen in by_prompt.values())  # nobody left without an opponent


def fixed_priority(contender_ids, dimension):
    ids = sorted(contender_ids)
    return {(ids[0], ids[1]): 0.9, (ids[2], ids[3]): 0.8, (ids[0], ids[3]): 0.1}


@override_settings(JUDGES_PAIR_PRIORITY="tests.judges.test_campaign_planning.fixed_priority")
def test_adaptive_takes_the_k_pairs_the_priority_hook_ranks_first(arena_with_judge):
    prepared = estimate("adaptive", k=2)
    assert set(pairs_of(prepared)) == {frozenset(("alpha", "bravo")), frozenset(("charlie", "delta"))}


def test_the_default_priority_hook_favours_pairs_with_the_fewest_verdicts(arena_with_judge, stub):
    from tests.judges.conftest import run_inline

    make_judge("fair", base_url=stub.base_url)
    prompt_set, contenders = arena_with_judge
    run_inline(start_campaign(prompt_set, contenders[:2], "fair"))  # alpha vs bravo now has verdicts
    ids = sorted(c.pk for c in contenders)
    scores = fewest_verdicts_first(ids, "overall")
    alpha, bravo = (Contender.objects.get(slug=s).pk for s in ("alpha", "bravo"))
    assert scores[(min(alpha, bravo), max(alpha, bravo))] == 1 / 4
    assert max(scores.values()) == 1.0
    assert frozenset(("alpha", "bravo")) not in pairs_of(estimate("adaptive", k=5))


def test_the_estimate_counts_chars_over_four_and_max_tokens_at_the_judges_prices(arena_with_judge):
    prepared = estimate()
    version = prepared.versions[0]
    expected_in = 0
    for battle in prepared.battles:
        for order in ("shown", "swapped"):
            texts = JudgeTexts.for_order(
                order=order, question=battle.output_a.prompt.text, output_a=battle.output_a.text,
                output_b=battle.output_b.text, reference="", version=version,
            )  # fmt: skip
            expected_in += -(-sum(len(m["content"]) for m in judge_messages(version, texts)) // 4)
    est = prepared.estimate
    assert est.tokens_in == expected_in and est.tokens_out == 36 * 200
    assert est.cost == (Decimal(expected_in) * 3 + Decimal(36 * 200) * 15) / 1_000_000
    assert est.by_judge["j"]["calls"] == 36


def test_starting_reuses_existing_battles_and_skips_what_is_already_judged(arena_with_judge, stub):
    prompt_set, contenders = arena_with_judge
    before = Battle.objects.count()
    first = start_campaign(prompt_set, contenders, "j")
    assert Battle.objects.count() == before + 18 and Judgment.objects.filter(campaign=first).count() == 36
    again = estimate()
    assert again.estimate.already_judged == 36 and again.estimate.calls == 0  # in progress elsewhere
    assert all(b.battle_id for b in again.battles)
