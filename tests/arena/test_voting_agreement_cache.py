"""The agreement figure on a served battle (arena.voting.stats.AGREEMENT_SECONDS): the htmx serve shows the figure
stored by the last response that computed it, reading only the counts from the database; every response after
the voter's own vote, undo or skip computes it afresh; the other people's votes reach the served figure once
the stored one expires."""

import re
import time

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arena.cache import RedisCache
from arena.models import Assignment
from arena.voting import stats
from arena.voting.agreement_cache import agreement_key
from arena.voting.ballots import Ballot
from arena.voting.recording import vote_record
from tests.support import factories

pytestmark = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the figure is kept in the shared cache (Redis)"
)
HX = {"HTTP_HX_REQUEST": "true"}
FIGURE = re.compile(
    r'data-testid="agreement">([^<]*)</strong>\s*<span class="muted">\((\d+) battles? compared\)'
)
TOKEN = re.compile(r'/vote/b/([A-Za-z0-9_-]+)/"')
# The agreement's statement (serve_store._PROGRESS): the only one reading the people's verdicts by voter.
AGREEMENT_SQL = "WITH mine AS MATERIALIZED"


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


@pytest.fixture
def task(db):
    return factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=6)[0]


def _figure(response) -> tuple[str, int]:
    """(the percentage shown, or "–"; battles compared) from a page or fragment with the counters."""
    assert response.status_code == 200, response.status_code
    found = FIGURE.search(response.content.decode())
    assert found is not None, response.content.decode()[:2000]
    return found.group(1), int(found.group(2))


def _vote(task, user, outcome: str) -> Assignment:
    """The user's next battle voted so that its stored overall outcome is `outcome` ("a" or "b")."""
    assignment = factories.serve_to(task, user)
    left = (outcome == "a") == assignment.left_is_a
    vote_record(
        token=assignment.token, voter=factories.voter_of(user), ballot=Ballot("left" if left else "right")
    )
    return assignment


def _serve(client, task):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **HX)


def _counters(client, task):
    """The counters' fragment the reveal loads right after a vote (templates/voting/battle.html)."""
    return client.get(reverse("voting:progress", args=[task.slug]), **HX)


def _people(*names):
    return [factories.make_annotator_user(name) for name in names]


def test_a_serve_shows_the_stored_figure_and_reads_only_the_counts(client, task):
    alice, bob, carol = _people("alice", "bob", "carol")
    battle = _vote(task, alice, "a").battle_id
    for person in (bob, carol):
        assert _vote(task, person, "a").battle_id == battle  # short battles with votes are served first
    client.force_login(alice)
    assert _figure(_counters(client, task)) == ("100%", 1)  # computed, and stored
    with CaptureQueriesContext(connection) as queries:
        served = _serve(client, task)
    assert _figure(served) == ("100%", 1)
    assert 'data-vote-state="open"' in served.content.decode()
    assert not [q["sql"][:80] for q in queries.captured_queries if AGREEMENT_SQL in q["sql"]]
    # The counts themselves are read on every serve: today and total include the vote just made.
    assert re.search(r'data-testid="total">1<', served.content.decode())


def test_the_figure_is_stored_for_at_most_the_window_and_holds_only_the_counts(client, task):
    alice, bob = _people("alice", "bob")
    _vote(task, alice, "a")
    _vote(task, bob, "b")
    client.force_login(alice)
    assert _figure(_counters(client, task)) == ("0%", 1)
    cache = caches["default"]
    assert cache.get(agreement_key(f"u:{alice.pk}")) == (1, 0)  # numbers only: nothing about the battle
    key = cache.make_and_validate_key(agreement_key(f"u:{alice.pk}"))
    assert 0 < cache.redis_client_for(key).ttl(key) <= stats.AGREEMENT_SECONDS


def test_other_peoples_votes_reach_the_served_figure_once_the_stored_one_expires(client, task, monkeypatch):
    window = 1  # seconds: the test waits it out
    monkeypatch.setattr(stats, "AGREEMENT_SECONDS", window)
    alice, bob, carol, dave = _people("alice", "bob", "carol", "dave")
    battle = _vote(task, alice, "a").battle_id
    assert _vote(task, bob, "a").battle_id == battle
    client.force_login(alice)
    assert _figure(_counters(client, task)) == ("100%", 1)
    for person in (carol, dave):  # the others' majority turns to b
        assert _vote(task, person, "b").battle_id == battle
    # The counters' fragment always computes: it shows the change at once, and stores it for the serve.
    assert _figure(_counters(client, task)) == ("0%", 1)
    assert _figure(_serve(client, task)) == ("0%", 1)
    # Without a fresh computation in between, the serve catches up once the stored figure expires.
    erin, frank = _people("erin", "frank")
    for person in (erin, frank):  # a, b, b, a, a: the majority is a again
        assert _vote(task, person, "a").battle_id == battle
    time.sleep(window + 0.2)
    with CaptureQueriesContext(connection) as queries:
        served = _serve(client, task)  # the battle served before is still open: a reload
    assert _figure(served) == ("100%", 1)
    assert [q for q in queries.captured_queries if AGREEMENT_SQL in q["sql"]]


def test_after_the_voters_own_vote_the_next_battle_shows_the_figure_it_produced(client, task):
    alice, bob, carol = _people("alice", "bob", "carol")
    client.force_login(alice)
    assert _figure(_serve(client, task)) == ("–", 0)  # computed and stored: nothing to compare yet
    token = TOKEN.search(_serve(client, task).content.decode()).group(1)
    battle = Assignment.objects.get(token=token).battle_id
    for person in (bob, carol):
        assert _vote(task, person, "b").battle_id == battle
    assignment = Assignment.objects.get(token=token)
    left = assignment.left_is_a  # alice votes b: against neither, with the others
    voted = client.post(
        reverse("voting:submit", args=[token]), {"overall": "right" if left else "left"}, **HX
    )
    assert voted.status_code == 200 and reverse("voting:progress", args=[task.slug]) in voted.content.decode()
    assert _figure(_counters(client, task)) == ("100%", 1)  # what the reveal loads at once
    assert _figure(_serve(client, task)) == ("100%", 1)
    # Without JavaScript the vote answers with the whole page, counters computed there.
    token = TOKEN.search(_serve(client, task).content.decode()).group(1)
    page = client.post(reverse("voting:submit", args=[token]), {"overall": "tie"})
    assert page.status_code == 200 and 'data-testid="revealed"' in page.content.decode()
    assert _figure(_serve(client, task)) == _figure(page)


def test_an_undo_serves_the_next_battle_with_the_figure_without_the_withdrawn_vote(client, task):
    alice, bob, carol = _people("alice", "bob", "carol")
    client.force_login(alice)
    token = TOKEN.search(_serve(client, task).content.decode()).group(1)
    battle = Assignment.objects.get(token=token).battle_id
    for person in (bob, carol):
        assert _vote(task, person, "a").battle_id == battle
    assignment = Assignment.objects.get(token=token)
    client.post(
        reverse("voting:submit", args=[token]), {"overall": "left" if assignment.left_is_a else "right"}, **HX
    )
    assert _figure(_counters(client, task)) == ("100%", 1)  # stored with the vote
    undone = client.post(reverse("voting:undo", args=[token]), **HX)
    assert _figure(undone) == ("–", 0)
    assert _figure(_serve(client, task)) == ("–", 0)


def test_an_undo_without_javascript_leads_to_a_battle_without_the_withdrawn_vote_in_the_figure(client, task):
    """The whole-page vote stores the figure with the vote; the undo (within the same window) must not leave it
    to the battle the undo redirects to."""
    alice, bob, carol = _people("alice", "bob", "carol")
    client.force_login(alice)
    token = TOKEN.search(_serve(client, task).content.decode()).group(1)
    battle = Assignment.objects.get(token=token).battle_id
    for person in (bob, carol):
        assert _vote(task, person, "a").battle_id == battle
    assignment = Assignment.objects.get(token=token)
    page = client.post(
        reverse("voting:submit", args=[token]), {"overall": "left" if assignment.left_is_a else "right"}
    )
    assert _figure(page) == ("100%", 1)
    undone = client.post(reverse("voting:undo", args=[token]), follow=True)
    assert _figure(undone) == ("–", 0)


def test_a_vote_forgets_the_stored_figure_as_it_is_counted(client, task):
    """So a serve racing the counters' fragment after the vote computes the figure rather than showing the one
    from before the vote."""
    alice, bob = _people("alice", "bob")
    client.force_login(alice)
    assert _figure(_serve(client, task)) == ("–", 0)  # computed and stored
    key = agreement_key(f"u:{alice.pk}")
    assert caches["default"].get(key) == (0, 0)
    token = TOKEN.search(_serve(client, task).content.decode()).group(1)
    battle = Assignment.objects.get(token=token).battle_id
    assert _vote(task, bob, "a").battle_id == battle
    assert client.post(reverse("voting:submit", args=[token]), {"overall": "tie"}, **HX).status_code == 200
    assert caches["default"].get(key, "gone") == "gone"
    assert _figure(_serve(client, task)) == ("0%", 1)


@pytest.mark.parametrize(
    "stored",
    ["not a figure", (1, 5), (-1, 0), "raw bytes", "a hash"],
    ids=["a string", "more agreed than compared", "negative", "bytes no set wrote", "another type of key"],
)
def test_a_stored_value_that_is_not_a_figure_is_computed_again(client, task, stored):
    alice, bob = _people("alice", "bob")
    _vote(task, alice, "a")
    _vote(task, bob, "a")
    client.force_login(alice)
    cache = caches["default"]
    key = cache.make_and_validate_key(agreement_key(f"u:{alice.pk}"))
    redis = cache.redis_client_for(key)
    if stored == "raw bytes":
        redis.set(key, b"\x80garbage")
    elif stored == "a hash":
        redis.hset(key, "compared", 1)
    else:
        cache.set(agreement_key(f"u:{alice.pk}"), stored, 30)
    assert _figure(_serve(client, task)) == ("100%", 1)
    if stored != "a hash":  # a key of another type is left as it is (not ours to delete)
        assert cache.get(agreement_key(f"u:{alice.pk}")) == (1, 1)
