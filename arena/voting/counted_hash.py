"""A Redis hash of counts taken from the database, shared by the counters serving ranks by
(`arena.voting.pair_votes`: votes per contender pair; `arena.voting.held_places`: votes per battle).

The hash holds a "counted" marker beside its fields: without it (never counted, expired, or only increments
since) the caller counts from the database and stores the result here, which replaces the hash whole and
expires it after ARENA_VOTE_PAIR_RECOUNT_SECONDS, so any drift between increments and the database is
corrected at the latest then. One process recounts a hash at a time (a short lock); the others use their
own count meanwhile without storing it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

COUNTED = b"counted"
_RECOUNT_LOCK_SECONDS = 30


def counted_fields(found: dict[bytes, bytes]) -> dict[bytes, int] | None:
    """The counts of a hash read with HGETALL, or None when it was not counted from the database."""
    if COUNTED not in found:
        return None
    return {field: int(n) for field, n in found.items() if field != COUNTED}


def counted_store(client: Any, key: str, counts: dict[str | bytes, int]) -> None:
    """Replace the hash with `counts`, counted from the database (marked, and expiring); nothing when another
    process is storing its recount."""
    lock = f"{key}:recounting"
    if client.set(lock, 1, nx=True, ex=_RECOUNT_LOCK_SECONDS):
        try:
            pipe = client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping={COUNTED: 1, **counts})
            pipe.expire(key, settings.ARENA_VOTE_PAIR_RECOUNT_SECONDS)
            pipe.execute()
        finally:
            client.delete(lock)
