"""Django's Redis cache, keeping its redis-py client and degrading to a miss when Redis is unreachable.

Django's RedisCacheClient makes a new `redis.Redis` for every cache call; its constructor (response
callbacks and all) was ~9 % of a vote's CPU (the session read and the rate-limit counters are cache calls).
A client is only a handle on the connection pool, which Django already keeps, so one per pool is enough.

Django keeps a cache object, and with it its connection pools, per thread and, under ASGI, per request (the
cache handler is context-local): every request of the ASGI web server opened a new Redis connection (connect,
HELLO, CLIENT SETINFO, which reads the package metadata from disk). Pools and their clients are kept per
process instead, keyed by server and options; redis-py's pools and clients are safe to share between threads.

The cache only ever holds copies (sessions are written through to the database) and counters, so a Redis
that is down or restarting must not turn a page into a 500: every operation that cannot reach it acts as a
miss (reads return the default, writes store nothing) and logs one warning line, at most every
`_LOG_EVERY_S` seconds per process, naming the operation and the error.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import redis
from django.core.cache.backends import redis as django_redis
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_LOG_EVERY_S = 10.0
_last_logged = 0.0


def cache_unreachable_logged(operation: str, exc: BaseException) -> None:
    """Log that Redis could not be reached for `operation` (rate-limited: one line per `_LOG_EVERY_S`)."""
    global _last_logged
    now = time.monotonic()
    if now - _last_logged >= _LOG_EVERY_S:
        _last_logged = now
        logger.warning("Redis cache unreachable during %s (%s): serving without it", operation, exc)


# (server URL, pool options) -> (pool, client), for the whole process; see the module doc.
_POOLS: dict[tuple[str, str], tuple[object, object]] = {}
_POOLS_LOCK = threading.Lock()


class _ClientKeepingRedisCacheClient(django_redis.RedisCacheClient):
    # Set by Django's RedisCacheClient (its stubs leave them out).
    _servers: list[str]
    _pool_options: dict[str, Any]
    _pool_class: Any
    _client: Any
    _get_connection_pool_index: Callable[[bool], int]
    _serializer: Any

    def _pool_and_client(self, write: bool) -> tuple[object, object]:
        server = self._servers[self._get_connection_pool_index(write)]
        key = (server, repr(sorted(self._pool_options.items())))
        found = _POOLS.get(key)
        if found is None:
            with _POOLS_LOCK:
                found = _POOLS.get(key)
                if found is None:
                    # The version given once: by default every new connection reads it from the package
                    # metadata on disk (for CLIENT SETINFO), milliseconds each in a burst of new requests.
                    options = {"driver_info": DriverInfo(lib_version=redis.__version__), **self._pool_options}
                    pool = self._pool_class.from_url(server, **options)
                    found = _POOLS[key] = (pool, self._client(connection_pool=pool))
        return found

    def _get_connection_pool(self, write):
        return self._pool_and_client(write)[0]

    def get_client(self, key=None, *, write=False):
        return self._pool_and_client(write)[1]


def _degrading(fallback):
    """Wrap a cache method: when Redis is unreachable, log and return `fallback(*args, **kwargs)`."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNREACHABLE as exc:
                cache_unreachable_logged(f"cache.{method.__name__}", exc)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _default(key, default=None, *args, **kwargs):
    return default


def _false(*args, **kwargs):
    return False


def _none(*args, **kwargs):
    return None


def _empty(*args, **kwargs):
    return {}


def _all_failed(data, *args, **kwargs):
    return list(data)


def _incr_unreachable(key, delta=1, version=None):
    # Django's contract for a missing key; callers of incr already handle it.
    raise ValueError(f"Key {key!r} not found (Redis unreachable)")


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ClientKeepingRedisCacheClient

    get = _degrading(_default)(django_redis.RedisCache.get)
    add = _degrading(_false)(django_redis.RedisCache.add)
    set = _degrading(_none)(django_redis.RedisCache.set)
    touch = _degrading(_false)(django_redis.RedisCache.touch)
    delete = _degrading(_false)(django_redis.RedisCache.delete)
    has_key = _degrading(_false)(django_redis.RedisCache.has_key)
    get_many = _degrading(_empty)(django_redis.RedisCache.get_many)
    set_many = _degrading(_all_failed)(django_redis.RedisCache.set_many)
    delete_many = _degrading(_none)(django_redis.RedisCache.delete_many)
    incr = _degrading(_incr_unreachable)(django_redis.RedisCache.incr)
    clear = _degrading(_false)(django_redis.RedisCache.clear)

    def redis_client_for(self, full_key: str):
        """The redis-py client (primary, for writing) serving `full_key` (a key from `make_and_validate_key`),
        for pipelines and hashes that Django's cache API has no call for. Django offers no public way to it:
        this backend is the one place that reaches into Django's client object, so app code never does."""
        return self._cache.get_client(full_key, write=True)

    def value_to_store(self, value: Any) -> bytes:
        """The raw value `set` would store for `value` (Django's own serialisation), for a script or pipeline
        that writes or compares an entry `get` reads elsewhere."""
        return cast(_ClientKeepingRedisCacheClient, self._cache)._serializer.dumps(value)

    def value_from_stored(self, stored: bytes | None, default: Any = None) -> Any:
        """What `get` returns for `stored`, the raw value of a key (from `make_and_validate_key`) that a
        pipeline read with GET: Django's own deserialisation, so entries read together with other commands
        stay the ones `get`/`set` use elsewhere."""
        return (
            default
            if stored is None
            else cast(_ClientKeepingRedisCacheClient, self._cache)._serializer.loads(stored)
        )
