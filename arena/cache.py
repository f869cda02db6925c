"""Django's Redis cache, keeping its redis-py client instead of building one per call.

Django's RedisCacheClient makes a new `redis.Redis` for every cache call; its constructor (response
callbacks and all) was ~9 % of a vote's CPU (the session read and the rate-limit counters are cache calls).
A client is only a handle on the connection pool, which Django already keeps, so one per pool is enough;
Django's caches are per thread, so nothing here is shared between threads either.
"""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis


class _ClientKeepingRedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ClientKeepingRedisCacheClient
