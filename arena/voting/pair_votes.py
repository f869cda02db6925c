"""People's votes per contender pair of a task ("pair votes"), kept in Redis for serving to rank pairs by.

Counting a task's votes from the database reads all of them, a cost that grows with every vote, on every
serve. So with Redis the count lives in one hash per task (field "low-high" → votes, plus a
"counted" marker): taken from the database once, and again every ARENA_VOTE_PAIR_RECOUNT_SECONDS (the hash
expires, which corrects any drift), while each vote adds one to its pair with HINCRBY. Serving reads the hash
with one HGETALL, however many contenders there are. One server at a time recounts (a short SET NX lock);
others count for themselves meanwhile without writing. The ranking is a heuristic: a vote that races a
recount only nudges which pair is served next, until the next recount.

Without Redis (the demo's file cache) serving counts from the database each time: such arenas are small.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.core.cache import caches
from django.db.models import Count

from arena.cache import UNREACHABLE, RedisCache, cache_unreachable_logged
from arena.models import Assignment
from arena.voting.agreement_cache import agreement_key
from arena.voting.counted_hash import counted_fields, counted_store
from arena.voting.held_places import held_vote_queue

logger = logging.getLogger(__name__)
Pair = tuple[int, int]  # (lower contender id, higher contender id)


def _redis(task_id: int):
    """(client, hash key), or None when the cache is not Redis."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None
    key = pair_votes_key(cache, task_id)
    return cache.redis_client_for(key), key


def _field(pair: Pair) -> str:
    return f"{pair[0]}-{pair[1]}"


def _count_from_database(task_id: int) -> dict[Pair, int]:
    votes: dict[Pair, int] = {}
    rows = Assignment.objects.filter(task_id=task_id, state=Assignment.State.VOTED).values_list(
        "battle__contender_a", "battle__contender_b"
    )
    for a, b, n in rows.annotate(n=Count("pk")):
        pair = (min(a, b), max(a, b))
        votes[pair] = votes.get(pair, 0) + n
    return votes


def pair_votes(task_id: int) -> dict[Pair, int]:
    """Votes so far per contender pair of the task; pairs without votes are absent."""
    redis = _redis(task_id)
    if redis is None:
        return _count_from_database(task_id)
    client, key = redis
    try:
        found = client.hgetall(key)
    except UNREACHABLE as exc:
        cache_unreachable_logged("votes per pair (counted from the database)", exc)
        return _count_from_database(task_id)
    return _from_found(task_id, client, key, found)


def pair_votes_key(cache: RedisCache, task_id: int) -> str:
    """The task's hash, for a caller reading it in a pipeline with other commands (`pair_votes_read`)."""
    return cache.make_and_validate_key(f"vote-pairs:{task_id}")


def pair_votes_read(task_id: int, client: Any, found: dict | None) -> dict[Pair, int]:
    """`pair_votes` from the hash as a pipeline's HGETALL of `pair_votes_key` found it; `found` None: Redis
    could not be reached (the pipeline logged it), so counted from the database."""
    if found is None:
        return _count_from_database(task_id)
    return _from_found(task_id, client, pair_votes_key(cast(RedisCache, caches["default"]), task_id), found)


def _from_found(task_id: int, client: Any, key: str, found: dict) -> dict[Pair, int]:
    counted = counted_fields(found)
    if counted is not None:
        return {tuple(int(part) for part in field.split(b"-")): n for field, n in counted.items()}  # type: ignore[misc]
    votes = _count_from_database(task_id)
    try:
        counted_store(client, key, {_field(pair): n for pair, n in votes.items()})
    except UNREACHABLE as exc:  # went away between the two calls: the database count stands
        cache_unreachable_logged("vote pair recount", exc)
    return votes


def _pair_vote_change(
    task_id: int,
    contender_a_id: int,
    contender_b_id: int,
    by: int,
    held: tuple[int, int] | None,
    voter_key: str | None,
) -> None:
    redis = _redis(task_id)
    if redis is None:
        return
    client, key = redis
    pair = (min(contender_a_id, contender_b_id), max(contender_a_id, contender_b_id))
    try:
        # One round trip for both counts: the pair's votes, and the battle's places (arena.voting.held_places).
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(key, _field(pair), by)
        if held is not None:
            assignment_id, battle_id = held
            held_vote_queue(
                pipe, cast(RedisCache, caches["default"]), task_id, pair, assignment_id, battle_id, by
            )
        if voter_key is not None:
            # The voter's stored agreement figure holds the withdrawn vote (arena.voting.agreement_cache).
            # Django's Redis cache sends every write to its first server, this pipeline's.
            pipe.delete(cast(RedisCache, caches["default"]).make_and_validate_key(agreement_key(voter_key)))
        pipe.execute()
    except UNREACHABLE as exc:
        cache_unreachable_logged(f"counting a vote ({by:+d}) on pair {pair} of task {task_id}", exc)
    except Exception:
        logger.warning("Could not count a vote (%+d) on pair %s of task %s", by, pair, task_id, exc_info=True)


def pair_vote_added(
    task_id: int, contender_a_id: int, contender_b_id: int, held: tuple[int, int] | None = None
) -> None:
    """Count one more vote on the pair (and, given `held` = (assignment id, battle id), on its battle's held
    places). Called after the vote is stored: a cache that is down must not turn a stored vote into an error
    page, so failures are logged, and the next recount catches up."""
    _pair_vote_change(task_id, contender_a_id, contender_b_id, 1, held, None)


def pair_vote_removed(
    task_id: int,
    contender_a_id: int,
    contender_b_id: int,
    held: tuple[int, int] | None = None,
    voter_key: str | None = None,
) -> None:
    """Count one vote fewer on the pair (an undone vote; `held` as above; given `voter_key`, forget the voter's
    stored agreement figure), after the undo is stored; failures as above."""
    _pair_vote_change(task_id, contender_a_id, contender_b_id, -1, held, voter_key)
