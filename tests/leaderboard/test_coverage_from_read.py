"""Coverage taken from the recompute's one read of every verdict equals `coverage_read`'s own queries."""

from __future__ import annotations

import pytest

from arena.models import Dimension, Output, Prompt, Source
from arena.services.battles import source_get_or_create
from arena.services.style import style_counts
from leaderboard.services.coverage import coverage_read
from leaderboard.services.recompute import boards_and_judging_read
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add

pytestmark = pytest.mark.django_db


def test_coverage_from_the_boards_read_equals_its_own_queries(settings):
    """Three prompt sets (one the live set, left out), categories and uncategorised prompts, a prompt one
    contender never answered, people, a judge and an import on different sets, ties and soft verdicts, and
    verdicts that do not count (excluded; an unapproved contender's; an inactive dimension's) on sets no
    counted verdict of that source reaches."""
    settings.LEADERBOARD_STYLE_CONTROL = True
    main = arena_make(("alpha", "beta", "gamma", "delta"), categories=("math", "writing", ""))
    extra = Prompt.objects.create(prompt_set=main.prompt_set, external_id="p-extra", text="One more?")
    for contender in main.contenders[:3]:
        Output.objects.create(contender=contender, prompt=extra, text="An answer.", **style_counts("x"))
    second = arena_make(("eps", "zeta", "eta"), n_prompts=4, categories=(), set_slug="second-set")
    live = arena_make(("theta", "iota"), n_prompts=3, categories=("math",), set_slug="live-battles")
    pending = arena_make(("kappa", "lam"), n_prompts=2, statuses={"lam": "pending"}, set_slug="pending-set")
    excluded = arena_make(("mu", "nu"), n_prompts=2, set_slug="excluded-set")
    inactive = arena_make(("xi", "omicron"), n_prompts=2, set_slug="inactive-set")
    settings.ARENA_LIVE_PROMPT_SET = "live-battles"
    judge = judge_source()
    imported = source_get_or_create(kind=Source.Kind.IMPORT, key="import-x", name="Imported")

    verdicts_add(main.battles, seed=1, soft_share=0.2)
    verdicts_add(main.battles[::3], source=judge, seed=2)
    verdicts_add(second.battles, source=imported, seed=3, votes_per_battle=1)
    verdicts_add(second.battles[:2], source=judge, dimension="helpfulness", seed=4)
    verdicts_add(live.battles, seed=5)
    verdicts_add(pending.battles, seed=6)  # every battle has "lam", not approved: none counts
    verdicts_add(excluded.battles, source=judge, seed=7, excluded_share=1.0)
    Dimension.objects.filter(slug="clarity").update(is_active=False)
    verdicts_add(inactive.battles, source=imported, dimension="clarity", seed=8)

    _, judging = boards_and_judging_read()
    queried = coverage_read()

    assert judging is not None and judging.coverage == queried
    sets = {source: set(ids) for source, ids in queried.sets_by_source.items()}
    people_id = next(s for s in sets if Source.objects.get(pk=s).kind == Source.Kind.HUMAN)
    assert sets[people_id] == {main.prompt_set.pk, live.prompt_set.pk}
    assert sets[judge.pk] == {main.prompt_set.pk, second.prompt_set.pk}
    assert sets[imported.pk] == {second.prompt_set.pk}
    delta = main.contenders[3].pk
    assert queried.of(queried.prompt_keys([people_id], ""), delta) == (6, 7)
    assert live.prompt_set.pk not in {set_id for set_id, _ in queried.prompts}
