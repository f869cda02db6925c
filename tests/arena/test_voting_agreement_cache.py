"""The agreement figure kept for a while (arena.voting.agreement_cache): a computation of the whole stores it
with the newest verdict it counts; the serve and the counters' fragment then count only the battles of the
voter's newer verdicts and add them, so one's own votes show at once; an undo forgets it; the other people's
votes reach the figure once the stored one expires."""

import re
import time
from unittest import mock

import pytest
from django.core.cache import caches
from django.urls import reverse

from arena.cache import RedisCache
from arena.models import Assignment, Verdict
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


def _latest_verdict(user) -> int:
    return Verdict.objects.filter(voter_key=f"u:{user.pk}", dimension__slug="overall").latest("pk").pk


def test_a_serve_adds_to_the_stored_figure_only_the_battles_voted_since(client, task):
    alice, bob, carol = _people("alice", "bob", "carol")
    battle = _vote(task, alice, "a").battle_id
    for person in (bob, carol):
        assert _vote(task, person, "a").battle_id == battle  # short battles with votes are served first
    client.force_login(alice)
    assert _figure(_counters(client, task)) == ("100%", 1)  # computed whole, and stored
    with mock.patch.object(stats, "progress_counts", wraps=stats.progress_counts) as counted:
        served = _serve(client, task)
    assert _figure(served) == ("100%", 1)
    assert 'data-vote-state="open"' in served.content.decode()
    # Only the battles of verdicts newer than the stored figure's newest (none here) were probed.
    assert [call.kwargs.get("after") for call in counted.call_args_list] == [_latest_verdict(alice)]
    # The counts themselves are whole on every serve: today and total include the vote just made.
    assert re.search(r'data-testid="total">1<', served.content.decode())


def test_the_figure_is_stored_for_at_most_the_window_and_holds_only_the_counts(client, task):
    alice, bob = _people("alice", "bob")
    _vote(task, alice, "a")
    _vote(task, bob, "b")
    client.force_login(alice)
    assert _figure(_counters(client, task)) == ("0%", 1)
    cache = caches["default"]
    # Numbers only, nothing about the battle: compared, agreed, and the newest verdict of hers they count.
    assert cache.get(agreement_key(f"u:{alice.pk}")) == (1, 0, _latest_verdict(alice))
    key = cache.make_and_validate_key(agreement_key(f"u:{alice.pk}"))
    assert 0 < cache.redis_client_for(key).ttl(key) <= stats.AGREEMENT_SECONDS


def test_other_peoples_votes_reach_the_figure_once_the_stored_one_expires(client, task, monkeypatch):
    window = 1  # seconds: the test waits it out
    monkeypatch.setattr(stats, "AGREEMENT_SECONDS", window)
    alice, bob, carol, dave = _people("alice", "bob", "carol", "dave")
    battle = _vote(task, alice, "a").battle_id
    assert _vote(task, bob, "a").battle_id == battle
    client.force_login(alice)
    assert _figure(_counters(client, task)) == ("100%", 1)
    for person in (carol, dave):  # the others' majority turns to b
        assert _vote(task, person, "b").battle_id == battle
    # Within the window the battle's figure is the stored one, on the fragment and the serve alike ...
    assert _figure(_counters(client, task)) == ("100%", 1)
    assert _figure(_serve(client, task)) == ("100%", 1)
    time.sleep(window + 0.2)
    # ... and once it has expired, computed whole again (and stored anew).
    with mock.patch.object(stats, "progress_counts", wraps=stats.progress_counts) as counted:
        assert _figure(_serve(client, task)) == ("0%", 1)  # the battle served before is still open: a reload
    assert [call.kwargs.get("after") for call in counted.call_args_list] == [None]
    assert _figure(_counters(client, task)) == ("0%", 1)


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


def _served_with_the_others_votes(client, task) -> tuple[str, dict[str, str]]:
    """Alice signed in and served a battle that bob and carol then vote a on: (its token, alice's a)."""
    alice, bob, carol = _people("alice", "bob", "carol")
    client.force_login(alice)
    found = TOKEN.search(_serve(client, task).content.decode())
    assert found is not None
    token = found.group(1)
    battle = Assignment.objects.get(token=token).battle_id
    for person in (bob, carol):
        assert _vote(task, person, "a").battle_id == battle
    return token, {"overall": "left" if Assignment.objects.get(token=token).left_is_a else "right"}


def test_an_undo_serves_the_next_battle_with_the_figure_without_the_withdrawn_vote(client, task):
    token, vote_a = _served_with_the_others_votes(client, task)
    client.post(reverse("voting:submit", args=[token]), vote_a, **HX)
    assert _figure(_counters(client, task)) == ("100%", 1)  # with the vote
    undone = client.post(reverse("voting:undo", args=[token]), **HX)
    assert _figure(undone) == ("–", 0)
    assert _figure(_serve(client, task)) == ("–", 0)


def test_an_undo_without_javascript_leads_to_a_battle_without_the_withdrawn_vote_in_the_figure(client, task):
    """The whole-page vote stores the figure with the vote; the undo (within the same window) must not leave it
    to the battle the undo redirects to."""
    token, vote_a = _served_with_the_others_votes(client, task)
    page = client.post(reverse("voting:submit", args=[token]), vote_a)
    assert _figure(page) == ("100%", 1)
    undone = client.post(reverse("voting:undo", args=[token]), follow=True)
    assert _figure(undone) == ("–", 0)


def test_a_vote_is_in_the_figure_at_once_though_the_stored_one_is_older(client, task):
    """Nothing refreshes the stored figure between the vote and the next serve (no counters' fragment): the
    serve counts the battle of the newer verdict and adds it."""
    alice, bob = _people("alice", "bob")
    bobs = {_vote(task, bob, "a").battle_id for _ in range(2)}
    assert _vote(task, alice, "a").battle_id in bobs  # short battles with votes are served first
    client.force_login(alice)
    served = _serve(client, task)
    assert _figure(served) == ("100%", 1)  # computed whole and stored
    stored = caches["default"].get(agreement_key(f"u:{alice.pk}"))
    assert stored == (1, 1, _latest_verdict(alice))
    token = TOKEN.search(served.content.decode()).group(1)
    assignment = Assignment.objects.get(token=token)
    assert assignment.battle_id in bobs  # bob's other battle: his a is its majority
    voted = client.post(
        reverse("voting:submit", args=[token]), {"overall": "right" if assignment.left_is_a else "left"}, **HX
    )
    assert voted.status_code == 200
    assert _figure(_serve(client, task)) == ("50%", 2)  # her b against bob's a: one of two
    assert caches["default"].get(agreement_key(f"u:{alice.pk}")) == stored  # added to, not stored anew


@pytest.mark.parametrize(
    "stored",
    ["not a figure", (1, 1), (1, 5, 0), (-1, 0, 0), (0, 0, -1), "raw bytes", "a hash"],
    ids=[
        "a string",
        "the shape without its verdict",
        "more agreed than compared",
        "negative",
        "a negative id",
        "bytes no set wrote",
        "another type of key",
    ],  # fmt: skip
)
@pytest.mark.parametrize("page", ["serve", "counters"])
def test_a_stored_value_that_is_not_a_figure_is_computed_again(client, task, stored, page):
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
    shown = _serve(client, task) if page == "serve" else _counters(client, task)
    assert _figure(shown) == ("100%", 1)
    # Stored anew over it (Redis's SET replaces a key of any type).
    assert cache.get(agreement_key(f"u:{alice.pk}")) == (1, 1, _latest_verdict(alice))


def test_a_figure_added_to_from_many_verdicts_replaces_the_stored_one_and_keeps_its_expiry(client, db):
    """A voter whose history all came after the stored figure would otherwise have it all counted again."""
    from arena.voting.agreement_cache import ADVANCE_AFTER

    task = factories.make_voting_arena(n_contenders=3, n_prompts=4, votes_per_battle=6)[0]  # 12 battles
    alice, bob = _people("alice", "bob")
    client.force_login(alice)
    assert _figure(_serve(client, task)) == ("–", 0)  # stored: nothing yet, no verdict
    cache = caches["default"]
    key = cache.make_and_validate_key(agreement_key(f"u:{alice.pk}"))
    assert cache.get(agreement_key(f"u:{alice.pk}")) == (0, 0, 0)
    Assignment.objects.filter(annotator__user=alice, state="served").delete()  # the rest by `_vote`
    hers = {_vote(task, alice, "a").battle_id for _ in range(ADVANCE_AFTER)}
    assert _vote(task, bob, "a").battle_id in hers  # short battles with votes are served first
    ttl = cache.redis_client_for(key).pttl(key)
    figure = _figure(_serve(client, task))
    assert figure == ("100%", 1)
    assert cache.get(agreement_key(f"u:{alice.pk}")) == (1, 1, _latest_verdict(alice))
    assert 0 < cache.redis_client_for(key).pttl(key) <= ttl  # the window is still the first computation's
    with mock.patch.object(stats, "progress_counts", wraps=stats.progress_counts) as counted:
        assert _figure(_serve(client, task)) == figure
    assert [call.kwargs.get("after") for call in counted.call_args_list] == [_latest_verdict(alice)]


def test_a_figure_is_advanced_only_over_the_one_it_was_added_to(db):
    """Stored anew by a whole computation meanwhile, or expired: left as it is, never created without expiry."""
    from arena.voting.agreement_cache import agreement_advance

    cache = caches["default"]
    cache.set(agreement_key("u:1"), (3, 2, 40), 30)
    agreement_advance("u:1", (1, 1, 20), (2, 2, 30))
    assert cache.get(agreement_key("u:1")) == (3, 2, 40)
    cache.delete(agreement_key("u:1"))
    agreement_advance("u:1", (3, 2, 40), (4, 3, 50))
    assert cache.get(agreement_key("u:1"), "absent") == "absent"
    cache.set(agreement_key("u:1"), (3, 2, 40), 30)
    agreement_advance("u:1", (3, 2, 40), (4, 3, 50))
    assert cache.get(agreement_key("u:1")) == (4, 3, 50)
