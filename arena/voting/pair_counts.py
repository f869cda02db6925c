"""People's votes per contender pair of a task, kept in the cache for serving to rank pairs by.

Counting a task's votes from the database reads all of them: a tenth of a second per serve at a hundred
thousand votes. So the count is taken from the database once (and again every ARENA_VOTE_PAIR_RECOUNT_SECONDS,
which corrects any drift), and each vote adds one to its pair's counter in the cache meanwhile. The ranking is a
heuristic: a vote missed in between (a vote racing a recount, a counter evicted) only nudges which pair is
served next, until the recount.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

from arena.models import Assignment

logger = logging.getLogger(__name__)
Pair = tuple[int, int]  # (lower contender id, higher contender id)


def _key(task_id: int, pair: Pair | None = None) -> str:
    suffix = f"{pair[0]}-{pair[1]}" if pair else "counted"
    return f"arena:vote-pairs:{task_id}:{suffix}"


def _count_from_database(task_id: int) -> dict[Pair, int]:
    votes: dict[Pair, int] = {}
    rows = Assignment.objects.filter(task_id=task_id, state=Assignment.State.VOTED).values_list(
        "battle__contender_a", "battle__contender_b"
    )
    for a, b, n in rows.annotate(n=Count("pk")):
        pair = (min(a, b), max(a, b))
        votes[pair] = votes.get(pair, 0) + n
    return votes


def pair_votes(task_id: int, pairs: Sequence[Pair]) -> dict[Pair, int]:
    """Votes so far on each of `pairs` in the task (pairs with none are absent or 0)."""
    keys = [_key(task_id), *(_key(task_id, pair) for pair in pairs)]
    found = cache.get_many(keys)
    if len(found) == len(keys):
        return {pair: found[_key(task_id, pair)] for pair in pairs}
    votes = _count_from_database(task_id)
    seconds = settings.ARENA_VOTE_PAIR_RECOUNT_SECONDS
    entries = {_key(task_id, pair): votes.get(pair, 0) for pair in pairs}
    cache.set_many({_key(task_id): True, **entries}, seconds)
    return votes


def pair_vote_added(task_id: int, contender_a_id: int, contender_b_id: int) -> None:
    """Count one more vote on the pair; a counter not in the cache waits for the next count instead.

    Called after the vote is stored: a cache that is down must not turn a stored vote into an error page.
    """
    pair = (min(contender_a_id, contender_b_id), max(contender_a_id, contender_b_id))
    try:
        cache.incr(_key(task_id, pair))
    except ValueError:  # Django's incr raises it for a missing key
        pass
    except Exception:
        logger.warning(
            "Could not count a vote on pair %s of task %s in the cache", pair, task_id, exc_info=True
        )
