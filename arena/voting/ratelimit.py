"""Fixed-window rate limits per annotator (user or session) and per client IP, counted in Django's cache.

Checked before anything is written, so a refused request stores nothing. Serving battles gets twice the
budget of voting: every vote needs a serve, and people reload pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches

from arena.cache import UNREACHABLE, RedisCache, cache_unreachable_logged

WINDOW_SECONDS = 60
SCOPE_FACTOR = {"vote": 1, "serve": 2}


@dataclass(frozen=True)
class RateLimited:
    message: str
    retry_after: int


def _namespace() -> str:
    # Tests give each run its own namespace so counters from an earlier run in the same minute do not leak in.
    return settings.ARENA_VOTE_RATE_NAMESPACE


def _count(keys: list[str]) -> list[int]:
    """Increment each counter (created with an expiry) and return the new values."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return _count_redis(cache, keys)
    counts = []
    for key in keys:
        cache.add(key, 0, WINDOW_SECONDS + 5)
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr: start again
            cache.set(key, 1, WINDOW_SECONDS + 5)
            counts.append(1)
    return counts


# Each key counted, and given its expiry when this count created it, atomically (a script runs alone).
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""
_scripts: dict[int, tuple[Any, Any]] = {}  # id(client) -> (client, its script); the client kept alive with it


def _count_redis(cache: RedisCache, keys: list[str]) -> list[int]:
    # Django's RedisCache.incr costs two round trips and can leave a key without expiry if it expires in
    # between; on the voting hot path every counter is counted by one script call (EVALSHA; redis-py loads
    # the script when the server does not know it yet), exact, and cheaper for this process than a pipeline
    # of SET NX EX + INCR per key (four commands to pack and four replies to parse).
    full = [cache.make_and_validate_key(key) for key in keys]
    client = cache.redis_client_for(full[0])
    found = _scripts.get(id(client))
    if found is None:  # one per client (the cache keeps one per connection pool, for the process)
        found = _scripts[id(client)] = (client, client.register_script(_COUNT_SCRIPT))
    script = found[1]
    try:
        return [int(n) for n in script(keys=full, args=[WINDOW_SECONDS + 5], client=client)]
    except UNREACHABLE as exc:
        # Counters live only in Redis: while it is down nothing is counted (and nothing refused), rather than
        # refusing every vote; the warning says so.
        cache_unreachable_logged("vote rate limit (not enforced meanwhile)", exc)
        return [0] * len(keys)


def _keys(scope: str, voter_key: str, ip: str) -> list[str]:
    window = int(time.time() // WINDOW_SECONDS)
    prefix = f"{_namespace()}:{scope}:{window}"
    return [f"{prefix}:v:{voter_key}", f"{prefix}:ip:{ip}"]


def rate_limit_hit(*, scope: str, voter_key: str, ip: str) -> RateLimited | None:
    """Count one request of `scope` ("vote" or "serve"); say why it is refused when a limit is exceeded."""
    return _verdict(scope, voter_key, _count(_keys(scope, voter_key, ip)))


def rate_limit_queue(pipe: Any, cache: RedisCache, *, scope: str, voter_key: str, ip: str) -> None:
    """Queue on `pipe` (a pipeline of `rate_limit_client`'s client) the count `rate_limit_hit` makes, as one
    EVAL (EVALSHA would need redis-py's SCRIPT EXISTS round trip before each pipeline); `rate_limit_read`
    judges its reply."""
    full = [cache.make_and_validate_key(key) for key in _keys(scope, voter_key, ip)]
    pipe.eval(_COUNT_SCRIPT, len(full), *full, WINDOW_SECONDS + 5)


def rate_limit_client(cache: RedisCache, *, scope: str, voter_key: str, ip: str) -> Any:
    """The client holding this request's counters (the one `rate_limit_queue`'s pipeline must be made on)."""
    return cache.redis_client_for(cache.make_and_validate_key(_keys(scope, voter_key, ip)[0]))


def rate_limit_read(reply: Any, *, scope: str, voter_key: str) -> RateLimited | None:
    """`rate_limit_hit`'s answer from the queued count's reply; None for the reply of a Redis that could not
    be reached (nothing counted, nothing refused, as `rate_limit_hit`)."""
    counts = [0, 0] if reply is None else [int(n) for n in reply]
    return _verdict(scope, voter_key, counts)


def _verdict(scope: str, voter_key: str, counts: list[int]) -> RateLimited | None:
    factor = SCOPE_FACTOR[scope]
    per_voter = settings.ARENA_VOTE_RATE_PER_MINUTE * factor
    per_ip = settings.ARENA_VOTE_RATE_PER_MINUTE_IP * factor
    n_voter, n_ip = counts
    retry_after = WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
    what = "votes" if scope == "vote" else "battles loaded"
    if n_voter > per_voter:
        who = "this account" if voter_key.startswith("u:") else "this browser session"
        return RateLimited(
            f"Too many {what} from {who}: at most {per_voter} a minute. Wait {retry_after} s and try again.",
            retry_after,
        )
    if n_ip > per_ip:
        return RateLimited(
            f"Too many {what} from your network address: at most {per_ip} a minute. Wait {retry_after} s and try again.",
            retry_after,
        )
    return None
