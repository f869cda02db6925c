"""People's votes: serving a battle blind, recording a vote once, staff tools and progress figures.

This module is the package's public surface: code outside `arena.voting` (other arena modules, management
commands, the other apps) imports from here only; the modules behind it are free to change shape. An
import-linter contract in pyproject.toml enforces it. The way a vote travels, module by module:

- `identity`: who is voting (`Voter`: a user or a session key, `voter_for_request`) and their `Annotator` row,
  the client's IP;
- `serving`: which battle an annotator gets next (`assignment_serve`, choosing through `selection`, whose
  pluggable `pair_priority` ranks contender pairs), and the dimensions the task asks about (`vote_dimensions`);
- `ballots`: what a vote says (`Ballot`, `ballot_from_post`: the form, in the annotator's left/right terms;
  `battle_outcome`: the same in the battle's A/B terms);
- `recording`: storing it once, through the arena's verdict ledger (`vote_record`; SQL in `vote_store`);
- `undoing`, `pair_votes`, `conflicts`, `ratelimit`: taking a vote back, votes per contender pair, people's
  own contenders and unproven accounts (`contenders_conflicting`, `account_unproven`), rate limits;
- `staff`: tasks, gold battles and exclusions (`task_create`, `gold_add`); `stats`: progress and agreement.

Views (`views`, `urls`) and the admin (`admin`) are wired in by `arena.urls` and `arena.admin`; the vote
POST's and the served battle's lean endpoints (`lean_vote`, `lean_serve`, beside Django's middleware stack) by
`arena.wsgi`.
"""

from arena.voting.ballots import CHOICES, Ballot, ballot_from_post, battle_outcome
from arena.voting.conflicts import account_unproven, contenders_conflicting
from arena.voting.identity import Voter, annotator_for, client_ip, voter_for_request
from arena.voting.recording import vote_record
from arena.voting.selection import PairStats, pair_priority
from arena.voting.serving import assignment_serve, vote_dimensions
from arena.voting.staff import gold_add, task_create
from arena.voting.stats import TaskProgress, task_progress

__all__ = [
    "CHOICES",
    "Ballot",
    "PairStats",
    "TaskProgress",
    "Voter",
    "account_unproven",
    "annotator_for",
    "assignment_serve",
    "ballot_from_post",
    "battle_outcome",
    "client_ip",
    "contenders_conflicting",
    "gold_add",
    "pair_priority",
    "task_create",
    "task_progress",
    "vote_dimensions",
    "vote_record",
    "voter_for_request",
]
