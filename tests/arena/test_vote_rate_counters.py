"""The vote rate limit's counters in Redis (arena.voting.ratelimit): counted exactly, each with its expiry."""

import uuid
from typing import cast

import pytest
from django.core.cache import caches

from arena.cache import RedisCache
from arena.voting import ratelimit
from arena.voting.ratelimit import WINDOW_SECONDS, rate_limit_hit
from tests.support import factories

pytestmark = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the counters under test live in Redis"
)


@pytest.fixture
def window(settings):
    """Fresh counters, one instant (no window boundary mid-test): (the voter key's counter, the IP's)."""
    with factories.frozen_rate_window(settings, "vote") as keys:
        yield keys


def _stored(keys: list[str]) -> list[tuple[int, int]]:
    """(count, seconds to live) of each counter, read from Redis itself."""
    cache = cast(RedisCache, caches["default"])
    full = [cache.make_and_validate_key(key) for key in keys]
    client = cache.redis_client_for(full[0])
    return [(int(client.get(key)), client.ttl(key)) for key in full]


def test_each_count_is_stored_with_its_expiry_and_the_fourth_vote_is_refused(window):
    answers = [rate_limit_hit(scope="vote", voter_key="u:7", ip="203.0.113.9") for _ in range(4)]
    assert answers[:3] == [None, None, None]
    assert answers[3] is not None and "at most 3 a minute" in answers[3].message
    for count, ttl in _stored(window):
        # The expiry the counter was created with, less the test's own second at most.
        assert count == 4 and WINDOW_SECONDS + 5 - 2 <= ttl <= WINDOW_SECONDS + 5


def test_counting_goes_on_when_redis_does_not_know_the_script(window, monkeypatch):
    rate_limit_hit(scope="vote", voter_key="u:7", ip="203.0.113.9")
    # As after a Redis restart: a script the server has never seen (its text made unique, rather than
    # flushing every script of a server the test shares).
    monkeypatch.setattr(ratelimit, "_COUNT_SCRIPT", f"{ratelimit._COUNT_SCRIPT}-- {uuid.uuid4().hex}\n")
    monkeypatch.setattr(ratelimit, "_scripts", {})
    assert rate_limit_hit(scope="vote", voter_key="u:7", ip="203.0.113.9") is None
    assert [count for count, _ in _stored(window)] == [2, 2]


def test_the_script_is_made_once_per_client(window):
    rate_limit_hit(scope="vote", voter_key="u:7", ip="203.0.113.9")
    made = dict(ratelimit._scripts)
    rate_limit_hit(scope="vote", voter_key="u:7", ip="203.0.113.9")
    assert ratelimit._scripts == made and len(made) >= 1
