"""The Redis cache keeps one client per pool, and sessions live in it without depending on it."""

from django.conf import settings
from django.core.cache import caches
from django.urls import reverse

from arena.cache import RedisCache


def test_the_redis_cache_reuses_its_client_and_still_round_trips_values():
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=False)
    cache.set("cache-test-key", {"n": 3}, 30)
    assert cache.get("cache-test-key") == {"n": 3}
    cache.delete("cache-test-key")
    assert cache.get("cache-test-key") is None


def test_a_signed_in_session_survives_losing_its_cache_entry(alice_client, alice):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    page = reverse("arena:my-contenders")
    assert alice_client.get(page).status_code == 200
    session = alice_client.session
    cached = caches[settings.SESSION_CACHE_ALIAS]
    assert cached.get(session.cache_key) is not None  # read through the cache ...
    cached.delete(session.cache_key)  # ... e.g. Redis restarted without persistence
    response = alice_client.get(page)
    assert response.status_code == 200 and alice.username in response.content.decode()
    assert cached.get(session.cache_key) is not None  # refilled from the database


def test_an_unreachable_redis_cache_acts_as_a_miss_and_logs_it(caplog, monkeypatch):
    import pytest

    import arena.cache
    from tests.support.services import free_port

    monkeypatch.setattr(arena.cache, "_last_logged", 0.0)  # an earlier test may have logged within 10 s
    down = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    with caplog.at_level("WARNING", logger="arena.cache"):
        assert down.get("key", "fallback") == "fallback"
        assert down.set("key", 1) is None  # stores nothing, raises nothing
        assert down.add("key", 1) is False
        assert down.get_many(["key"]) == {}
        assert down.delete("key") is False
        with pytest.raises(ValueError, match="Redis unreachable"):
            down.incr("key")  # Django's "no such key", which callers handle
    assert caplog.text.count("Redis cache unreachable during cache.get") == 1  # one line, not one per call
