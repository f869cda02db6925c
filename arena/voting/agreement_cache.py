"""The annotator's agreement figure kept in the shared cache for a short while, so a serve need not compute
it all on every battle (`arena.voting.stats.annotator_progress` stores it and adds to it, `serve_reads` reads
it, an undo forgets it in `pair_votes`). Its own module, as both the counting and the reading side need it."""

from __future__ import annotations

# How long an annotator's agreement figure is kept. The figure probes every battle the annotator voted on for
# the others' votes (`progress_counts`): most of a served battle's PostgreSQL CPU, growing with their history.
# So it is stored as `(compared, agreed, the id of the newest verdict of theirs it counts)` by a computation of
# the whole, and meanwhile the serve and the counters' fragment the reveal loads count only the battles of the
# voter's newer verdicts and add them: one's own votes show at once, in a few probes. An undo deletes the
# stored figure (`pair_votes`, in the Redis round trip that counts it), since a withdrawn vote cannot be taken
# out of it. What can lag, by at most this long, is the other people's votes on the battles it holds, and a
# staff exclusion (and a verdict of one's own committed after a newer one, from two tabs at once).
AGREEMENT_SECONDS = 30


def agreement_key(voter_key: str) -> str:
    """The shared cache's key (before `make_and_validate_key`) of the voter's agreement figure: by voter key,
    which names the verdicts the figure is made of ("u:<id>" or "s:<hex>", safe in a key)."""
    return f"vote-agreement:{voter_key}"
