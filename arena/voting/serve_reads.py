"""A serve's independent Redis reads in one round trip: the serve's rate limit, the task's votes per pair, and
the shared cache's copies of the vote's optional rows, of the task's goal and of the voter's agreement figure.

None of them needs another's result, so with Redis they go out in one pipeline (each a round trip of its own
cost this process ~45 µs of redis-py CPU plus the wait). What each means, and what happens when Redis cannot
be reached, stays with its module (`ratelimit`, `pair_votes`, `shown_dimensions`, `stats`): this one only
sends their commands together and hands each its reply. The rate limit is still judged first, before anything
is written or counted from the database: a refused serve costs the same one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches

from arena.cache import UNREACHABLE, RedisCache, cache_unreachable_logged
from arena.models import AnnotationTask, Dimension
from arena.voting.agreement_cache import agreement_key
from arena.voting.pair_votes import Pair, pair_votes, pair_votes_key, pair_votes_read
from arena.voting.ratelimit import (
    RateLimited,
    rate_limit_client,
    rate_limit_hit,
    rate_limit_queue,
    rate_limit_read,
)
from arena.voting.shown_dimensions import shown_dimensions_key, shown_dimensions_read
from arena.voting.stats import task_goal_key


@dataclass
class ServeReads:
    limited: RateLimited | None
    _task: AnnotationTask
    _client: Any = None
    _votes: dict | None = None  # HGETALL's reply; None: not read (no Redis, or unreachable)
    _dimensions: Any = None
    _goal: Any = None
    _agreement: Any = None
    _read: bool = False  # the pipeline answered

    def votes(self) -> Mapping[Pair, int]:
        """`pair_votes(task)`, from the reply (counted from the database when it was not read)."""
        if not self._read:
            return pair_votes(self._task.pk)
        return pair_votes_read(self._task.pk, self._client, self._votes)

    def dimensions(self) -> list[Dimension] | None:
        """`shown_dimensions(task's set)` from the reply; None when not read (the caller reads them itself)."""
        if not self._read:
            return None
        return shown_dimensions_read(self._task.prompt_set_id, self._dimensions)

    def goal_read(self) -> tuple[int | None] | None:
        """The cached goal as `task_progress(goal_read=)` takes it; None when not read."""
        return (self._goal,) if self._read else None

    def agreement_read(self) -> tuple[object] | None:
        """The annotator's cached agreement figure as `annotator_progress(agreement_read=)` takes it; None
        when not read."""
        return (self._agreement,) if self._read else None


def serve_reads(*, task: AnnotationTask, voter_key: str, ip: str) -> ServeReads:
    """Count the serve against the rate limits and read what the serve needs from Redis, in one round trip
    (without Redis: `rate_limit_hit`, the rest read where it is used)."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return ServeReads(rate_limit_hit(scope="serve", voter_key=voter_key, ip=ip), task)
    client = rate_limit_client(cache, scope="serve", voter_key=voter_key, ip=ip)
    dimensions_key = cache.make_and_validate_key(shown_dimensions_key(task.prompt_set_id))
    goal_key = cache.make_and_validate_key(task_goal_key(task))
    agreement = cache.make_and_validate_key(agreement_key(voter_key))
    votes_key = pair_votes_key(cache, task.pk)
    if any(
        cache.redis_client_for(key) is not client for key in (dimensions_key, goal_key, agreement, votes_key)
    ):
        # A key whose client is another server's: one pipeline cannot hold it (Django's Redis cache sends every
        # write, so these, to its first LOCATION: kept as a guard for another backend).
        return ServeReads(rate_limit_hit(scope="serve", voter_key=voter_key, ip=ip), task)
    pipe = client.pipeline(transaction=False)
    rate_limit_queue(pipe, cache, scope="serve", voter_key=voter_key, ip=ip)
    pipe.hgetall(votes_key)
    pipe.get(dimensions_key)
    pipe.get(goal_key)
    pipe.get(agreement)
    try:
        # Each reply on its own (an error in one does not hide the others): the rate limit is judged first.
        counts, votes, dimensions, goal, agreed = pipe.execute(raise_on_error=False)
    except UNREACHABLE as exc:
        # As each read alone: nothing counted nor refused, the rest from the database (and their own cache
        # reads, which log and give up as well).
        cache_unreachable_logged("the serve's reads (rate limit not enforced meanwhile)", exc)
        return ServeReads(rate_limit_read(None, scope="serve", voter_key=voter_key), task)
    if isinstance(counts, Exception):
        raise counts
    limited = rate_limit_read(counts, scope="serve", voter_key=voter_key)
    if isinstance(agreed, Exception):
        agreed = None  # a key holding something else (not ours): the figure is computed afresh and stored
    failed = next((reply for reply in (votes, dimensions, goal) if isinstance(reply, Exception)), None)
    if failed is not None:
        if limited is not None:
            return ServeReads(limited, task)  # refused, as when the limit was read alone before the others
        raise failed  # as that read alone would have raised
    return ServeReads(
        limited,
        task,
        client,
        votes,
        cache.value_from_stored(dimensions),
        cache.value_from_stored(goal),
        _agreement_decoded(cache, agreed),
        True,
    )


def _agreement_decoded(cache: RedisCache, stored: bytes | None) -> object:
    """The cached agreement figure as stored, or None when the key holds what no `set` of ours wrote: the serve
    then computes the figure (and stores it) rather than failing on an entry that is only an optimisation."""
    try:
        return cache.value_from_stored(stored)
    except Exception:
        return None
