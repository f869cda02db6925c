"""A serve's independent Redis reads go out in one pipeline (arena.voting.serve_reads): the serve's rate limit
counted exactly as `rate_limit_hit` counts it, the task's votes per pair, and the shared cache's copies of the
vote's optional rows and of the task's goal read in Django's own format. The number of Redis round trips per
served battle is pinned here, so it cannot silently grow back."""

from itertools import combinations
from typing import cast
from unittest import mock

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from redis.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from arena.cache import RedisCache
from arena.models import Assignment, Battle, Dimension
from arena.voting import serve_store
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.pair_votes import pair_vote_added, pair_votes
from arena.voting.ratelimit import WINDOW_SECONDS, rate_limit_hit
from arena.voting.recording import vote_record
from arena.voting.serve_reads import serve_reads
from arena.voting.shown_dimensions import shown_dimensions
from arena.voting.stats import task_goal_key, task_progress
from tests.support import factories

pytestmark = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the reads under test are Redis's"
)
HX = {"HTTP_HX_REQUEST": "true"}
# A served battle after a vote, in a warm arena: the session (Django's cached_db engine), the serve's reads
# (rate limit, votes per pair, vote dimensions, task goal, agreement figure: one pipeline), the pair's held places (one
# pipeline), and the serve's own entry among them (after the INSERT, so not with the reads).
SERVE_ROUND_TRIPS = 4


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


class _RoundTrips:
    """Counts what redis-py sends: one packed send per command alone, or per pipeline."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def __enter__(self):
        original = AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            parts = command if isinstance(command, list) else [command]
            self.sent.append(b"".join(bytes(p) for p in parts)[:80])
            return original(connection, command, check_health)

        self._patch = mock.patch.object(AbstractConnection, "send_packed_command", counted)
        self._patch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._patch.stop()


def _serve(client, task):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **HX)


def test_a_served_battle_makes_a_pinned_number_of_redis_round_trips(client, db):
    from arena.voting.held_places import held_places

    task, _ = factories.make_voting_arena(n_contenders=4, n_prompts=6)
    factories.make_all_battles(task)
    task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness"]))
    user = factories.make_annotator_user("alice")
    annotator_for(factories.voter_of(user))
    client.force_login(user)
    contenders = sorted(
        {b.contender_a_id for b in Battle.objects.all()} | {b.contender_b_id for b in Battle.objects.all()}
    )
    for pair in combinations(contenders, 2):  # warm, as in a running arena
        serve_store.pair_answers(task.prompt_set_id, pair)
        held_places(task, pair, timezone.now())
    trips = []
    for _ in range(3):
        with _RoundTrips() as counted:
            response = _serve(client, task)
        assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
        trips.append(counted.sent)
        served = Assignment.objects.get(annotator__user=user, state="served")
        vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
        # As the reveal does: its counters' fragment (the agreement figure stored by the first serve, added to).
        assert client.get(reverse("voting:progress", args=[task.slug]), **HX).status_code == 200
    # The first serve may also fill the shared copies (dimensions, goal): the later ones only read.
    assert [len(sent) for sent in trips[1:]] == [SERVE_ROUND_TRIPS] * 2, trips


@pytest.fixture
def frozen(settings):
    with factories.frozen_rate_window(settings, "serve") as keys:
        yield keys


def test_the_pipelined_count_is_the_rate_limits_and_refuses_at_the_same_point(db, frozen):
    task, _ = factories.make_voting_arena()
    answers = [serve_reads(task=task, voter_key="u:7", ip="203.0.113.9").limited for _ in range(3)]
    answers += [rate_limit_hit(scope="serve", voter_key="u:7", ip="203.0.113.9") for _ in range(3)]
    answers.append(serve_reads(task=task, voter_key="u:7", ip="203.0.113.9").limited)
    assert answers[:6] == [None] * 6  # serving gets twice the budget of voting (3 × 2)
    assert answers[6] is not None and "at most 6 a minute" in answers[6].message
    cache = cast(RedisCache, caches["default"])
    full = [cache.make_and_validate_key(key) for key in frozen]
    redis = cache.redis_client_for(full[0])
    for key in full:  # counted once each, created with its expiry
        assert int(redis.get(key)) == 7
        assert WINDOW_SECONDS + 5 - 2 <= redis.ttl(key) <= WINDOW_SECONDS + 5


def test_the_reads_equal_each_read_alone(db):
    task, _ = factories.make_voting_arena()
    task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    factories.make_all_battles(task)
    battle = Battle.objects.first()
    assert battle is not None
    pair_votes(task.pk)  # the hash counted
    pair_vote_added(task.pk, battle.contender_a_id, battle.contender_b_id)
    fields = ("pk", "slug", "name", "rubric", "position")

    # Nothing cached yet: the reads fill the copies as the single reads do, in Django's format.
    caches["default"].delete(task_goal_key(task))
    reads = serve_reads(task=task, voter_key="u:7", ip="203.0.113.9")
    assert dict(reads.votes()) == pair_votes(task.pk)
    assert sum(reads.votes().values()) == 1
    progress = task_progress(task, reads.votes(), goal_read=reads.goal_read())
    assert progress == task_progress(task)
    assert caches["default"].get(task_goal_key(task)) == progress.goal // task.votes_per_battle
    dims = reads.dimensions()
    assert [[getattr(d, f) for f in fields] for d in dims] == [
        [getattr(d, f) for f in fields] for d in shown_dimensions(task.prompt_set_id)
    ]
    # Cached now: read from the pipeline's replies.
    reads = serve_reads(task=task, voter_key="u:7", ip="203.0.113.9")
    assert reads.goal_read() == (progress.goal // task.votes_per_battle,)
    assert {d.slug for d in reads.dimensions()} == {"correctness", "clarity"}


def test_without_redis_the_serve_is_not_limited_and_reads_the_database(db, monkeypatch):
    task, _ = factories.make_voting_arena()
    bob = factories.make_annotator_user("bob")
    voted = factories.serve_to(task, bob)
    vote_record(token=voted.token, voter=factories.voter_of(bob), ballot=Ballot("left"))

    def down(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(AbstractConnection, "send_packed_command", down)
    reads = serve_reads(task=task, voter_key="u:7", ip="203.0.113.9")
    assert reads.limited is None and reads.dimensions() is None and reads.goal_read() is None
    assert sum(reads.votes().values()) == 1  # counted from the database


def _two_serves_voted(client, settings):
    """A signed-in annotator allowed 2 serves a minute, who has had both (and voted on them): the task."""
    factories.fresh_rate_limits(settings, per_voter=1, per_ip=100)  # 2 serves a minute
    task, _ = factories.make_voting_arena()
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    for _ in range(2):
        assert 'data-vote-state="open"' in _serve(client, task).content.decode()
        served = Assignment.objects.get(annotator__user=user, state="served")
        vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
    return task


def test_a_refused_serve_writes_nothing(client, db, settings):
    task = _two_serves_voted(client, settings)
    response = _serve(client, task)
    assert response.status_code == 429
    assert Assignment.objects.count() == 2 and not Assignment.objects.filter(state="served").exists()


def test_a_refused_serve_is_refused_when_another_reply_of_the_pipeline_is_an_error(client, db, settings):
    """Each reply is judged on its own: a cache entry Redis cannot read (here the goal's key holding a hash)
    does not turn the rate limit's refusal into a 500, as it did not when the limit was read alone."""
    task = _two_serves_voted(client, settings)
    cache = caches["default"]
    goal_key = cache.make_and_validate_key(task_goal_key(task))
    redis = cache.redis_client_for(goal_key)
    redis.delete(goal_key)
    redis.hset(goal_key, "not", "a value")  # WRONGTYPE for the pipeline's GET
    response = _serve(client, task)
    assert response.status_code == 429
    assert Assignment.objects.count() == 2 and not Assignment.objects.filter(state="served").exists()
