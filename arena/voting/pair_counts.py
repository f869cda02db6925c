"""Renamed `arena.voting.pair_votes` ("pair counts" is the rating core's `PairCounts`, a different thing).

Kept only until the three modules that still import this name (selection, recording, undoing: other helpers'
files this session) switch to `arena.voting.pair_votes`; then delete this file.
"""

from arena.voting.pair_votes import pair_vote_added, pair_vote_removed, pair_votes

__all__ = ["pair_vote_added", "pair_vote_removed", "pair_votes"]
