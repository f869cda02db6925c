"""Which battle comes next: gold now and then, judge-inconsistent ones when asked, informative pairs, never twice."""

import random

import pytest

from arena.models import Assignment, Battle, Dimension, Verdict
from arena.services.battles import battle_get_or_create, source_get_or_create
from arena.services.verdicts import verdict_record
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.selection import PairStats, battle_pick, fewest_votes_first
from arena.voting.serving import assignment_serve
from arena.voting.staff import gold_add
from tests.support import factories


def _annotator(voter):
    return annotator_for(factories.voter_of(voter))


def _vote(task, voter, choice="left"):
    assignment = factories.serve_to(task, voter)
    vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot(choice))
    return assignment


def _pair(battle):
    return tuple(sorted((battle.contender_a_id, battle.contender_b_id)))


def test_an_annotator_never_gets_the_same_battle_twice_and_then_none(db, voter):
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=2)
    seen = []
    while (assignment := factories.serve_to(task, voter)) is not None:
        seen.append(assignment.battle_id)
        _vote(task, voter) if len(seen) % 2 else Assignment.objects.filter(pk=assignment.pk).update(
            state="skipped", answered_at=assignment.served_at
        )
    assert len(seen) == len(set(seen)) == 3 * 2  # 3 pairs × 2 prompts, skipped ones included


def test_battles_are_created_on_the_fly_in_both_orders(db, voter):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=12)
    assert not Battle.objects.exists()
    # One annotator skipping through all 12 prompts creates 12 battles, each in a fair random A/B order:
    # all 12 in the same order has probability 2 × 2⁻¹² ≈ 0.05%.
    while (assignment := factories.serve_to(task, voter)) is not None:
        Assignment.objects.filter(pk=assignment.pk).update(state="skipped", answered_at=assignment.served_at)
    assert Battle.objects.count() == 12
    orders = {(b.contender_a_id < b.contender_b_id) for b in Battle.objects.all()}
    assert orders == {True, False}


def test_a_reload_serves_the_same_open_battle(db, voter):
    task, _ = factories.make_voting_arena()
    first, again = factories.serve_to(task, voter), factories.serve_to(task, voter)
    assert first.pk == again.pk and first.token == again.token and Assignment.objects.count() == 1


def test_the_pair_with_the_fewest_votes_comes_first(db, voter):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=4)
    voters = [factories.make_annotator_user(f"v{i}") for i in range(4)]
    voted_pairs = {_pair(_vote(task, v).battle) for v in voters[:3]}  # spreads over the three pairs
    assert len(voted_pairs) == 3
    extra = _vote(task, voters[3]).battle  # now one pair has two votes
    for _ in range(5):
        pick = battle_pick(task=task, annotator=_annotator(voter), rng=random.Random())
        assert _pair(pick.battle) != _pair(extra)


def test_battles_with_some_votes_are_completed_before_fresh_ones(db, voter, other_voter):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=6, votes_per_battle=3)
    first = _vote(task, factories.make_annotator_user("early")).battle
    assert factories.serve_to(task, voter).battle_id == first.pk


def test_the_pair_priority_is_pluggable(db, voter, settings):
    task, contenders = factories.make_voting_arena(n_contenders=4, n_prompts=2)
    settings.ARENA_VOTE_PAIR_PRIORITY = "tests.arena.test_voting_selection.prefer_the_last_two"
    for _ in range(5):
        pick = battle_pick(task=task, annotator=_annotator(voter))
        assert _pair(pick.battle) == (contenders[2].pk, contenders[3].pk)


def prefer_the_last_two(task, pairs: list[PairStats]) -> list[float]:
    """A stand-in for the leaderboard's hook (e.g. overlapping rating intervals)."""
    top = max(p.high for p in pairs)
    return [10.0 if p.high == top and p.low == top - 1 else 0.0 for p in pairs]


def test_the_default_priority_prefers_fewer_votes():
    assert fewest_votes_first(None, [PairStats(1, 2, 5), PairStats(1, 3, 0)]) == [-5.0, -0.0]


def _inconsistent_battle(task, contenders):
    a, b = (c.outputs.get(prompt__external_id="p2") for c in contenders[:2])
    battle, _ = battle_get_or_create(output_a=a, output_b=b)
    judge = source_get_or_create(kind="judge", key="judge-x", name="Judge X")
    verdict_record(
        battle=battle,
        dimension=Dimension.objects.get(slug="overall"),
        source=judge,
        outcome="tie",
        inconsistent=True,
    )
    return battle


def test_judge_inconsistent_battles_come_first_when_the_task_asks(db, voter):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=3, inconsistent_first=True)
    battle = _inconsistent_battle(task, contenders)
    assert factories.serve_to(task, voter).battle_id == battle.pk


def test_judge_inconsistent_battles_come_first_with_the_setting(db, voter, settings):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=3)
    battle = _inconsistent_battle(task, contenders)
    settings.ARENA_VOTE_INCONSISTENT_FIRST = True
    assert factories.serve_to(task, voter).battle_id == battle.pk


def test_judge_inconsistent_battles_get_no_priority_by_default(db):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=6)
    battle = _inconsistent_battle(task, contenders)
    picks = {
        battle_pick(
            task=task, annotator=_annotator(factories.make_annotator_user(f"p{i}")), rng=random.Random(i)
        ).battle.pk
        for i in range(8)
    }
    assert picks != {battle.pk}


def test_gold_battles_are_mixed_in_at_the_task_rate(db, voter):
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4, gold_rate=0.5)
    golds = [factories.serve_to(factories.make_voting_task(task.prompt_set, slug="seed"), voter).battle]
    gold_add(task=task, battle=golds[0], expected="a")
    annotator = _annotator(factories.make_annotator_user("bob"))
    picks = [battle_pick(task=task, annotator=annotator, rng=random.Random(seed)) for seed in range(40)]
    share = sum(p.gold is not None for p in picks) / len(picks)
    assert 0.3 < share < 0.7


def test_a_gold_battle_is_not_served_twice_to_the_same_person(db, voter):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=3, gold_rate=1.0)
    other = factories.make_voting_task(task.prompt_set, slug="seed")
    gold_add(task=task, battle=factories.serve_to(other, voter).battle, expected="b")
    bob = factories.make_annotator_user("bob")
    first = assignment_serve(task=task, annotator=_annotator(bob))
    vote_record(token=first.token, voter=factories.voter_of(bob), ballot=Ballot("tie"))
    second = assignment_serve(task=task, annotator=_annotator(bob))
    assert first.gold is not None and second.gold is None and second.battle_id != first.battle_id


def test_only_approved_contenders_of_the_task_are_served(db, voter):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=3)
    contenders[0].status = "hidden"
    contenders[0].save()
    while (assignment := factories.serve_to(task, voter)) is not None:
        assert contenders[0].pk not in _pair(assignment.battle)
        _vote(task, voter)
    assert Verdict.objects.count() == 3  # the one remaining pair × 3 prompts


def test_pair_votes_follow_the_votes_in_redis_and_match_a_recount(db, voter):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from arena.errors import Invalid
    from arena.voting.pair_votes import _count_from_database, _redis, pair_votes

    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=4)
    assert sum(pair_votes(task.pk).values()) == 0  # counted from the database, now in Redis
    voters = [factories.make_annotator_user(f"v{i}") for i in range(5)]
    for someone in voters:
        _vote(task, someone)
    refused = factories.serve_to(task, voter)
    with pytest.raises(Invalid):
        vote_record(
            token=refused.token, voter=factories.voter_of(voter), ballot=Ballot("left", {"nope": "a"})
        )
    with CaptureQueriesContext(connection) as queries:
        cached = pair_votes(task.pk)
    assert len(queries) == 0 and sum(cached.values()) == 5  # five votes; the refused one is not counted
    assert cached == _count_from_database(task.pk)
    client, key = _redis(task.pk)
    assert 0 < client.ttl(key) <= 3600  # the hash expires, so it is recounted now and then
    client.delete(key)  # e.g. the recount interval passed
    assert pair_votes(task.pk) == _count_from_database(task.pk) == cached


def test_without_redis_serving_counts_pair_votes_from_the_database(db, voter, settings):
    from arena.voting.pair_votes import pair_votes

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4)
    for i in range(3):
        _vote(task, factories.make_annotator_user(f"w{i}"))
    assert sum(pair_votes(task.pk).values()) == 3
