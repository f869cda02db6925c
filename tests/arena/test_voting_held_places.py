"""Places held per battle, counted in Redis for serving: they follow serves, votes, skips, undos and expiry as
the database counts them, and the pick made from them is the one the full statement makes; a stale copy of a
pair's battles never serves a battle the rules forbid."""

import random
from datetime import timedelta
from itertools import combinations

import pytest
from django.core.cache import caches
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arena.cache import RedisCache
from arena.models import Assignment, Battle, Output
from arena.services.battles import battle_get_or_create
from arena.voting import serve_store
from arena.voting.ballots import Ballot
from arena.voting.held_places import held_places
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.serving import assignment_serve, assignment_skip
from arena.voting.undoing import vote_undo
from tests.support import factories

pytestmark = [
    pytest.mark.skipif(
        not isinstance(caches["default"], RedisCache), reason="held places are counted in Redis"
    ),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the ordered pick is PostgreSQL's"),
]


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _pair(battle) -> tuple[int, int]:
    return tuple(sorted((battle.contender_a_id, battle.contender_b_id)))  # type: ignore[return-value]


def _fresh():
    from django.conf import settings

    return timezone.now() - timedelta(minutes=settings.ARENA_VOTE_OPEN_MINUTES)


def _in_database(task, pair, fresh) -> dict[int, int]:
    """The database's count, as the full statement makes it: votes and serves since `fresh`."""
    rows = Assignment.objects.filter(task=task).filter(
        Q(battle__contender_a_id=pair[0], battle__contender_b_id=pair[1])
        | Q(battle__contender_a_id=pair[1], battle__contender_b_id=pair[0])
    )
    held: dict[int, int] = {}
    for battle_id, state, served_at in rows.values_list("battle_id", "state", "served_at"):
        if state == "voted" or (state == "served" and served_at >= fresh):
            held[battle_id] = held.get(battle_id, 0) + 1
    return held


def test_held_places_follow_serves_votes_skips_undos_and_expiry(db, settings):
    settings.ARENA_VOTE_UNDO_SECONDS = 60
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=5)
    factories.make_all_battles(task)
    people = [factories.make_annotator_user(f"p{i}") for i in range(4)]
    first = factories.serve_to(task, people[0])
    pair = _pair(first.battle)
    assert held_places(task, pair, _fresh()) == _in_database(task, pair, _fresh()) == {first.battle_id: 1}

    vote_record(token=first.token, voter=factories.voter_of(people[0]), ballot=Ballot("left"))
    second = factories.serve_to(task, people[1])  # the battle with a vote comes first
    assert second.battle_id == first.battle_id
    assert held_places(task, pair, _fresh()) == _in_database(task, pair, _fresh()) == {first.battle_id: 2}

    assignment_skip(token=second.token, voter=factories.voter_of(people[1]))
    assert held_places(task, pair, _fresh()) == _in_database(task, pair, _fresh()) == {first.battle_id: 1}

    vote_undo(token=first.token, voter=factories.voter_of(people[0]))
    assert held_places(task, pair, _fresh()) == _in_database(task, pair, _fresh()) == {}

    third = factories.serve_to(task, people[2])
    later = third.served_at + timedelta(seconds=1)  # the serve is no longer fresh: it holds nothing
    assert held_places(task, pair, later) == _in_database(task, pair, later) == {}
    assert held_places(task, pair, _fresh()) == {}  # and it was trimmed from the set


def test_held_places_are_recounted_from_the_database_when_redis_lost_them(db):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=5)
    factories.make_all_battles(task)
    for i in range(3):
        user = factories.make_annotator_user(f"v{i}")
        served = factories.serve_to(task, user)
        vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
    pair = _pair(served.battle)
    expected = _in_database(task, pair, _fresh())
    caches["default"].clear()  # e.g. Redis restarted, or the recount interval passed
    assert held_places(task, pair, _fresh()) == expected == {served.battle_id: 3}


def _random_history(task, rng: random.Random, people: int) -> None:
    """Other people's serves, votes and skips, in random order (with random stale serves)."""
    for i in range(people):
        user = factories.make_annotator_user(f"h{i}")
        for _ in range(rng.randrange(1, 4)):
            served = factories.serve_to(task, user)
            if served is None:
                break
            roll = rng.random()
            if roll < 0.6:
                vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("left"))
            elif roll < 0.8:
                assignment_skip(token=served.token, voter=factories.voter_of(user))
            else:
                break  # left open (fresh)


def test_the_pick_from_redis_counts_is_the_full_statements_pick(db):
    rng = random.Random(13)
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=8, votes_per_battle=3)
    factories.make_all_battles(task)
    _random_history(task, rng, people=12)
    me = annotator_for(factories.voter_of(factories.make_annotator_user("me")))
    fresh = _fresh()
    compared = 0
    for pair in combinations(sorted({c for b in Battle.objects.all() for c in _pair(b)}), 2):
        for shuffle in (1, 7, 12345, 2147483646):
            full = serve_store.pair_candidate(
                task=task, annotator_id=me.pk, pair=pair, fresh_since=fresh, shuffle=shuffle
            )
            ordered = serve_store.pair_candidate_ordered(
                task=task, annotator_id=me.pk, pair=pair, held=held_places(task, pair, fresh), shuffle=shuffle
            )
            assert ordered is not serve_store.UNDECIDED
            assert (ordered.battle_id, ordered.held) == (full.battle_id, full.held), (pair, shuffle)
            compared += 1
    assert compared == 12


def test_a_serve_with_counts_in_redis_does_not_count_places_in_the_database(client, db):
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4)
    factories.make_all_battles(task)
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    annotator_for(factories.voter_of(user))
    from django.urls import reverse

    url = reverse("voting:task", args=[task.slug]) + "?start=1"
    client.get(url, HTTP_HX_REQUEST="true")  # warm: the pair's copy and the counts
    served = Assignment.objects.get(annotator__user=user, state="served")
    vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("WITH answers AS" in sql for sql in statements), statements
    assert any("unnest" in sql for sql in statements), statements


def test_an_answer_found_to_leak_after_the_copy_was_taken_is_not_served(db):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=3)
    factories.make_all_battles(task)
    me = annotator_for(factories.voter_of(factories.make_annotator_user("me")))
    pair = tuple(sorted(c.pk for c in contenders))
    serve_store.pair_answers(task.prompt_set_id, pair)  # this process's copy, taken before the leak is found
    Output.objects.filter(contender=contenders[0]).update(identity_leak="names its model")
    picked = serve_store.pair_candidate_ordered(task=task, annotator_id=me.pk, pair=pair, held={}, shuffle=1)
    assert picked is serve_store.UNDECIDED  # the full statement decides (and finds nothing to serve)
    assert assignment_serve(task=task, annotator=me) is None
    assert not Assignment.objects.exists()


def test_a_battle_deleted_after_the_copy_was_taken_is_not_served(db):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=3)
    factories.make_all_battles(task)
    me = annotator_for(factories.voter_of(factories.make_annotator_user("me")))
    pair = tuple(sorted(c.pk for c in contenders))
    copy = serve_store.pair_answers(task.prompt_set_id, pair)
    gone = {row[3] or row[4] for row in copy[:2]}
    Battle.objects.filter(pk__in=gone).delete()
    served = [assignment_serve(task=task, annotator=me) for _ in range(1)][0]
    assert (
        served is not None
        and served.battle_id not in gone
        and Battle.objects.filter(pk=served.battle_id).exists()
    )


def _answers_by_prompt(task) -> dict[int, dict[int, Output]]:
    """Each prompt's answers, by contender."""
    by_prompt: dict[int, dict[int, Output]] = {}
    for output in Output.objects.filter(prompt__prompt_set=task.prompt_set):
        by_prompt.setdefault(output.prompt_id, {})[output.contender_id] = output
    return by_prompt


def _seen(task, annotator, battle, token: str) -> None:
    """The annotator was served `battle` (and skipped it): they have seen its prompt and answers."""
    Assignment.objects.create(
        token=token, task=task, annotator=annotator, battle=battle, left_is_a=True,
        state=Assignment.State.SKIPPED, answered_at=timezone.now(), min_read_ms=0,
    )  # fmt: skip


def test_the_pick_skips_a_battle_whose_other_order_was_created_after_the_copy_and_served(db):
    """Both A/B orders of a prompt's battle may exist (a racing serve or a judge run creates the second): the
    annotator served one must not get the other, even when this process's copy of the pair's battles was
    taken before it existed."""
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=3)
    pair = tuple(sorted(c.pk for c in contenders))
    low, high = pair
    answers = _answers_by_prompt(task)
    first_order = {p: battle_get_or_create(output_a=a[low], output_b=a[high])[0] for p, a in answers.items()}
    serve_store.pair_answers(task.prompt_set_id, pair)  # the copy: one battle per prompt
    prompt = min(answers)
    other_order = battle_get_or_create(output_a=answers[prompt][high], output_b=answers[prompt][low])[0]
    me = annotator_for(factories.voter_of(factories.make_annotator_user("me")))
    _seen(task, me, other_order, "seen-other-order")
    held = {first_order[prompt].pk: task.votes_per_battle - 1}  # the prompt's battle comes first in the order

    picked = serve_store.pair_candidate_ordered(
        task=task, annotator_id=me.pk, pair=pair, held=held, shuffle=1
    )

    assert picked is serve_store.UNDECIDED or picked.prompt_id != prompt, (
        f"prompt {prompt} picked again, its answers already served to this annotator in the other order"
    )
    assert picked is not serve_store.UNDECIDED  # the other prompts' battles are unseen


def test_a_serve_never_repeats_a_prompt_seen_in_the_other_order(db):
    """End to end: the other order of a prompt's battle appears after this process copied the pair, the
    annotator is served it, and the first order holds the most places; their next serve is another prompt."""
    from arena.voting.held_places import held_serve_added

    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=3)
    pair = tuple(sorted(c.pk for c in contenders))
    low, high = pair
    answers = _answers_by_prompt(task)
    prompt = min(answers)
    first = battle_get_or_create(output_a=answers[prompt][high], output_b=answers[prompt][low])[0]
    for other_prompt, a in answers.items():
        if other_prompt != prompt:
            battle_get_or_create(output_a=a[low], output_b=a[high])
    serve_store.pair_answers(task.prompt_set_id, pair)
    mirrored = battle_get_or_create(output_a=answers[prompt][low], output_b=answers[prompt][high])[0]
    me = annotator_for(factories.voter_of(factories.make_annotator_user("me")))
    _seen(task, me, mirrored, "seen-mirrored")
    for i in range(task.votes_per_battle - 1):  # open serves of others: `first` is the pair's first candidate
        other = annotator_for(factories.voter_of(factories.make_annotator_user(f"other{i}")))
        held = Assignment.objects.create(
            token=f"other{i}", task=task, annotator=other, battle=first, left_is_a=True,
            state=Assignment.State.SERVED, min_read_ms=0,
        )  # fmt: skip
        held_serve_added(task.pk, held.pk, first.pk, held.served_at)

    served = assignment_serve(task=task, annotator=me)

    assert served is not None
    assert served.battle.prompt_id != prompt, "the same prompt and answers were served again, sides swapped"


def test_a_recount_counts_the_votes_of_a_battle_created_after_the_copy(db):
    """The recount is kept for every process until the next one: it must count the pair's battles as the
    database has them, not only those in this process's copy of the pair's."""
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=3)
    pair = tuple(sorted(c.pk for c in contenders))
    serve_store.pair_answers(task.prompt_set_id, pair)  # the copy, taken before any battle exists
    by_prompt = _answers_by_prompt(task)
    answers = by_prompt[min(by_prompt)]
    battle = battle_get_or_create(output_a=answers[pair[0]], output_b=answers[pair[1]])[0]  # another process
    voters = 2
    for i in range(voters):
        other = annotator_for(factories.voter_of(factories.make_annotator_user(f"v{i}")))
        Assignment.objects.create(
            token=f"v{i}", task=task, annotator=other, battle=battle, left_is_a=True,
            state=Assignment.State.VOTED, answered_at=timezone.now(), outcome="a", min_read_ms=0,
        )  # fmt: skip
    caches["default"].clear()  # the pair's count expired: the next serve recounts

    held = held_places(task, pair, _fresh())

    assert held == _in_database(task, pair, _fresh()) == {battle.pk: voters}, held
