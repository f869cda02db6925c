"""Places each battle holds in a task (votes, and serves still open), kept in Redis for serving to order by.

Within a contender pair, serving prefers the battles short of the task's votes wanted that hold the most
places already (arena.voting.selection). Counting them in the database read every candidate battle's
assignments on every serve, a cost that grows with the votes (docs/voting-performance.md). With Redis:

- per task and pair, a hash `vote-held:<task>:<low>-<high>`: battle id → its votes, plus a "counted"
  marker. Taken from the database when missing and again every ARENA_VOTE_PAIR_RECOUNT_SECONDS (the hash
  expires, which corrects any drift); a vote adds one (`pair_vote_added`), an undo takes it back;
- per task, a sorted set `vote-open:<task>`: "<assignment id>:<battle id>" scored by the serve's time. A serve
  adds its assignment, a vote or a skip takes it out; serves older than ARENA_VOTE_OPEN_MINUTES no longer
  count (read by score) and are trimmed on the next read. It is not recounted: after Redis lost it, open
  serves count again as new ones come (each lasts at most ARENA_VOTE_OPEN_MINUTES anyway).

These counts only order the candidates. Every rule (never a battle served before, no identity leak, only the
task's contenders, none of the annotator's own) is still checked in the database on each serve, so a count
that is off (a vote racing a recount, assignments changed by staff) changes which battle comes first, never
whether it may be served. Without Redis, or when it cannot be reached, serving counts in the database.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connection

from arena.cache import UNREACHABLE, RedisCache, cache_unreachable_logged
from arena.models import AnnotationTask, Assignment
from arena.voting.counted_hash import counted_fields, counted_store
from arena.voting.serve_store import pair_answers

logger = logging.getLogger(__name__)


def _cache() -> RedisCache | None:
    cache = caches["default"]
    return cache if isinstance(cache, RedisCache) else None


def _keys(cache: RedisCache, task_id: int, pair: tuple[int, int]) -> tuple[Any, str, str]:
    """(client, the pair's votes hash, the task's open-serves set); one client for both (same pool)."""
    votes = cache.make_and_validate_key(f"vote-held:{task_id}:{pair[0]}-{pair[1]}")
    return cache.redis_client_for(votes), votes, cache.make_and_validate_key(f"vote-open:{task_id}")


def _open_key(cache: RedisCache, task_id: int) -> tuple[Any, str]:
    key = cache.make_and_validate_key(f"vote-open:{task_id}")
    return cache.redis_client_for(key), key


def _member(assignment_id: int, battle_id: int) -> str:
    return f"{assignment_id}:{battle_id}"


# Each battle's votes counted on the (battle, task, state) index, battle by battle: filtering the task's
# assignments by their battles' contenders would read every vote of the task (docs/voting-performance.md,
# "Plans that do not depend on fresh statistics").
_VOTES = """
SELECT k.id, (SELECT COUNT(*) FROM arena_assignment x
               WHERE x.battle_id = k.id AND x.task_id = %(task)s AND x.state = %(voted)s) AS n
  FROM unnest(%(ids)s::bigint[]) AS k(id)
"""


def _votes_from_database(task: AnnotationTask, pair: tuple[int, int]) -> dict[int, int]:
    """Votes per battle of the pair, its battles (both A/B orders, in the task's prompt set) read from the
    database: the count is kept for every process until the next recount, so a battle missing from this
    process's copy of the pair's (up to PAIR_ANSWERS_SECONDS old) would show no votes until then."""
    answers = pair_answers(task.prompt_set_id, pair, fresh=True)
    ids = [battle for row in answers for battle in row[3:] if battle is not None]
    with connection.cursor() as cursor:
        cursor.execute(_VOTES, {"task": task.pk, "voted": Assignment.State.VOTED, "ids": ids})
        return {battle: n for battle, n in cursor.fetchall() if n}


def held_places(task: AnnotationTask, pair: tuple[int, int], fresh_since: datetime) -> dict[int, int] | None:
    """Places held per battle of the pair in the task (battles without any are absent): its votes plus its
    serves since `fresh_since` still open. None without Redis or when it cannot be reached; PostgreSQL only
    (the statements that use them are)."""
    cache = _cache()
    if cache is None or connection.vendor != "postgresql":
        return None
    client, votes_key, open_key = _keys(cache, task.pk, pair)
    fresh = fresh_since.timestamp()
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(votes_key)
        pipe.zremrangebyscore(open_key, "-inf", f"({fresh}")
        pipe.zrange(open_key, 0, -1)
        found, _, open_serves = pipe.execute()
    except UNREACHABLE as exc:
        cache_unreachable_logged("places held per battle (counted from the database)", exc)
        return None
    counted = counted_fields(found)
    if counted is not None:
        held = {int(field): n for field, n in counted.items()}
    else:
        held = _votes_from_database(task, pair)
        try:
            counted_store(client, votes_key, {str(battle): n for battle, n in held.items()})
        except UNREACHABLE as exc:
            cache_unreachable_logged("places held recount", exc)
    for member in open_serves:
        battle_id = int(member.rpartition(b":")[2])
        held[battle_id] = held.get(battle_id, 0) + 1
    return {battle_id: n for battle_id, n in held.items() if n > 0}  # an undone vote leaves a 0


def held_serve_added(task_id: int, assignment_id: int, battle_id: int, served_at: datetime) -> None:
    """A new serve holds a place on its battle (until answered, or ARENA_VOTE_OPEN_MINUTES). After the
    assignment is stored; a Redis that is down only leaves it uncounted (logged)."""
    cache = _cache()
    if cache is None:
        return
    client, key = _open_key(cache, task_id)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.zadd(key, {_member(assignment_id, battle_id): served_at.timestamp()})
        pipe.expire(key, 60 * settings.ARENA_VOTE_OPEN_MINUTES + 60)
        pipe.execute()
    except UNREACHABLE as exc:
        cache_unreachable_logged("counting a served battle's place", exc)
    except Exception:
        logger.warning("Could not count the place of assignment %s", assignment_id, exc_info=True)


def held_serve_closed(task_id: int, assignment_id: int, battle_id: int) -> None:
    """The serve was skipped: its place is free again."""
    cache = _cache()
    if cache is None:
        return
    client, key = _open_key(cache, task_id)
    try:
        client.zrem(key, _member(assignment_id, battle_id))
    except UNREACHABLE as exc:
        cache_unreachable_logged("freeing a skipped battle's place", exc)
    except Exception:
        logger.warning("Could not free the place of assignment %s", assignment_id, exc_info=True)


def held_vote_queue(
    pipe: Any,
    cache: RedisCache,
    task_id: int,
    pair: tuple[int, int],
    assignment_id: int,
    battle_id: int,
    by: int,
) -> None:
    """Queue on `pipe` a vote's change to the held places: +1 moves the serve's place to its battle's votes,
    −1 (an undo) takes the vote back (the assignment is then skipped: it holds nothing)."""
    _, votes_key, open_key = _keys(cache, task_id, pair)
    pipe.hincrby(votes_key, str(battle_id), by)
    if by > 0:
        pipe.zrem(open_key, _member(assignment_id, battle_id))
