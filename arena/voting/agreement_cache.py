"""The annotator's agreement figure kept in the shared cache for a short while, so a serve need not compute
it all on every battle (`arena.voting.stats.annotator_progress` stores it and adds to it, `serve_reads` reads
it, an undo forgets it in `pair_votes`). Its own module, as both the counting and the reading side need it."""

from __future__ import annotations

import logging

from django.core.cache import caches

from arena.cache import UNREACHABLE, RedisCache, cache_unreachable_logged

logger = logging.getLogger(__name__)

# How long an annotator's agreement figure is kept. The figure probes every battle the annotator voted on for
# the others' votes (`progress_counts`): most of a served battle's PostgreSQL CPU, growing with their history.
# So it is stored as `(compared, agreed, the id of the newest verdict of theirs it counts)` by a computation of
# the whole, and meanwhile the serve and the counters' fragment the reveal loads count only the battles of the
# voter's newer verdicts and add them: one's own votes show at once, the others' votes probed for those
# battles alone (and once they add many, the figure with them replaces the stored one, its expiry kept:
# `agreement_advance`). An undo deletes the stored figure (`pair_votes`, in the Redis round trip that counts
# it), since a withdrawn vote cannot be taken out of it. What can lag, by at most this long, is the other
# people's votes on the battles it holds, and a staff exclusion (and a verdict of one's own committed after a
# newer one, from two tabs at once).
AGREEMENT_SECONDS = 30


def agreement_key(voter_key: str) -> str:
    """The shared cache's key (before `make_and_validate_key`) of the voter's agreement figure: by voter key,
    which names the verdicts the figure is made of ("u:<id>" or "s:<hex>", safe in a key)."""
    return f"vote-agreement:{voter_key}"


# Once the battles added to a stored figure come from this many of the voter's verdicts, the figure with them
# replaces the stored one, its expiry kept (`agreement_advance`): a voter who started within the window (all
# their history newer than the figure) would otherwise have it all counted again on every serve.
ADVANCE_AFTER = 8

# Replace the stored figure only if it is still the one the addition was made to, keeping its expiry (KEEPTTL,
# Redis 6): an entry that expired, or was stored anew by a whole computation meanwhile, is left as it is, so
# no figure outlives the window of the whole computation it started from.
_ADVANCE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return false
"""


def agreement_advance(voter_key: str, stored: tuple[int, int, int], added: tuple[int, int, int]) -> None:
    """Store `added` (the figure `stored` with the battles of newer verdicts added) in place of `stored`, if it
    is still there; its expiry unchanged. Failures are logged: the figure is only an optimisation."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return
    key = cache.make_and_validate_key(agreement_key(voter_key))
    try:
        cache.redis_client_for(key).eval(
            _ADVANCE, 1, key, cache.value_to_store(stored), cache.value_to_store(added)
        )
    except UNREACHABLE as exc:
        cache_unreachable_logged("advancing an agreement figure", exc)
    except Exception:
        logger.warning("Could not advance the agreement figure of %s", voter_key, exc_info=True)
