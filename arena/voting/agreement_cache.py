"""The annotator's agreement figure kept in the shared cache for a short while, so the htmx serve need not
compute it on every battle (`arena.voting.stats.annotator_progress` stores it, `serve_reads` reads it, a vote
or an undo forgets it in `pair_votes`). Its own module, as both the counting and the reading side need it."""

from __future__ import annotations

# How long the htmx serve may show an annotator's agreement figure computed earlier, instead of computing it
# again. The figure probes every battle the annotator voted on for the others' votes (`progress_counts`): most
# of a served battle's PostgreSQL CPU, growing with their history, while the serve's counts cost a fraction.
# It is computed afresh, and stored for the serve, by every response that follows the annotator's own vote or
# undo (the counters' fragment that the reveal loads at once, the whole page without JavaScript, the battle
# after an undo or a skip), and a vote or an undo deletes the stored figure as it is counted (`pair_votes`,
# in the same Redis round trip): so no serve after one's own vote or undo shows the figure from before it,
# and what can lag is only the other people's votes on the same battles, by at most this long.
AGREEMENT_SECONDS = 30


def agreement_key(voter_key: str) -> str:
    """The shared cache's key (before `make_and_validate_key`) of the voter's agreement figure: by voter key,
    which names the verdicts the figure is made of ("u:<id>" or "s:<hex>", safe in a key)."""
    return f"vote-agreement:{voter_key}"
