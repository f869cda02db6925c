"""Recording a vote: verdicts for the people's source, attention checks and integrity flags, exactly once.

The hot path of the arena. One transaction: the assignment (and its annotator) row is locked, so a double
click or a replay waits for the first vote, then finds it and returns the same result without writing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from arena.errors import Conflict, Invalid, Unavailable
from arena.models import Assignment, GoldBattle, VoteFlag
from arena.services.battles import people_source
from arena.services.verdicts import VerdictEntry, verdicts_insert_statement
from arena.voting.ballots import CHOICES, Ballot, battle_outcome
from arena.voting.conflicts import account_unproven
from arena.voting.identity import Voter
from arena.voting.pair_votes import pair_vote_added
from arena.voting.serve_store import prompt_set_vote_dimensions
from arena.voting.serving import refuse_not_yours, refuse_unknown_token
from arena.voting.vote_store import Closing, LockedVote, stale_prepared_plan, vote_close, vote_lock


@dataclass(frozen=True)
class VoteResult:
    vote: LockedVote
    replayed: bool
    # Slug → name of the optional rows voted on, when this request read them (a fresh vote): the reveal then
    # needs no statement of its own to name them. None: ask the database (a replay).
    dimension_names: dict[str, str] | None = None


def locked_vote_of(token: str, voter: Voter) -> LockedVote:
    """Lock and read the vote behind `token` (inside a transaction): 404 unknown, 403 someone else's."""
    return vote_checked(vote_lock(token), voter)


def vote_checked(vote: LockedVote | None, voter: Voter) -> LockedVote:
    """The locked vote (`vote_lock`'s answer, None for an unknown token) when `voter` may vote on it: 404
    unknown, 403 someone else's."""
    if vote is None:
        raise refuse_unknown_token()
    if vote.voter_key != voter.key:
        raise refuse_not_yours()
    return vote


def _dimension_ids(vote: LockedVote, ballot: Ballot) -> tuple[dict[str, int], dict[str, str]]:
    """Slug → id of the rows voted on: overall first, then the ballot's optional dimensions; 400 for one this
    battle does not ask about. With slug → name of the optional ones (for the reveal)."""
    if vote.overall_dimension_id is None:
        raise Unavailable(
            "The 'overall' dimension is missing: staff must restore it (migration 0002 seeds it)."
        )
    dimensions = {"overall": vote.overall_dimension_id}  # read with the lock: no query for the common vote
    if not ballot.dimensions:
        return dimensions, {}
    # The rows the page showed (active, asked by the prompt set, overall aside), in one SQL statement.
    rows = prompt_set_vote_dimensions(vote.prompt_set_id)
    offered = {row.slug: row.pk for row in rows}
    unknown = sorted(slug for slug in ballot.dimensions if slug == "overall" or slug not in offered)
    if unknown:
        raise Invalid(
            f"This battle asks for no dimension {', '.join(unknown)}: vote only on the rows shown.",
            field="dimension",
        )
    names = {row.slug: row.name for row in rows if row.slug in ballot.dimensions}
    return dimensions | {slug: offered[slug] for slug in sorted(ballot.dimensions)}, names


def _verdicts(
    vote: LockedVote, dimensions: dict[str, int], outcomes: dict[str, str], voter: Voter
) -> list[VerdictEntry]:
    # The people's source id was read with the lock; people_source() creates the row the first time.
    source_id = vote.people_source_id if vote.people_source_id is not None else people_source().pk
    user_id, left_out = getattr(voter.user, "pk", None), _left_out(vote, voter)
    return [
        VerdictEntry(
            battle_id=vote.battle_id, contender_a_id=vote.contender_a_id, contender_b_id=vote.contender_b_id,
            dimension_id=dimension_id, source_id=source_id, outcome=outcomes[slug], user_id=user_id,
            voter_key=voter.key, excluded=left_out,
        )
        for slug, dimension_id in dimensions.items()
    ]  # fmt: skip


def _left_out(vote: LockedVote, voter: Voter) -> bool:
    """Stored but not counted: staff excluded the annotator, the voter judged their own (organization's)
    contender, or the account lacks the age or verified email the settings ask for (arena.voting.conflicts)."""
    return vote.excluded or vote.conflicts or account_unproven(voter.user)


def _gold_passed(vote: LockedVote, outcome: str) -> tuple[bool | None, str]:
    if vote.gold_id is None:
        return None, ""
    expected = GoldBattle.objects.values_list("expected", flat=True).get(pk=vote.gold_id)
    return outcome == expected, expected


def _flags(
    vote: LockedVote, ballot: Ballot, read_ms: int, streak: int, gold: tuple[bool | None, str]
) -> list[VoteFlag]:
    flags, kind = [], VoteFlag.Kind
    if read_ms < vote.min_read_ms:
        detail = f"voted after {read_ms / 1000:.1f} s; reading the answers takes about {vote.min_read_ms / 1000:.1f} s"
        flags.append(VoteFlag(assignment_id=vote.assignment_id, kind=kind.TOO_FAST, detail=detail))
    if streak >= settings.ARENA_VOTE_SAME_CHOICE_STREAK:
        detail = f"{CHOICES[ballot.overall]!r} {streak} times in a row"
        flags.append(VoteFlag(assignment_id=vote.assignment_id, kind=kind.SAME_CHOICE, detail=detail))
    if gold[0] is False:
        detail = f"expected {vote.displayed(gold[1])!r}, chose {ballot.overall!r}"
        flags.append(VoteFlag(assignment_id=vote.assignment_id, kind=kind.GOLD_FAILED, detail=detail))
    return flags


def _close(
    vote: LockedVote, ballot: Ballot, outcomes: dict[str, str], read_ms: int, verdicts: list[VerdictEntry]
) -> LockedVote:
    """Store the verdicts (through the ledger's statement), the vote on the assignment, the flags, and the
    annotator's run of identical choices: one statement on PostgreSQL."""
    streak = vote.streak + 1 if vote.last_choice == ballot.overall else 1
    gold = _gold_passed(vote, outcomes["overall"])
    flags = _flags(vote, ballot, read_ms, streak, gold)
    others = {slug: outcome for slug, outcome in outcomes.items() if slug != "overall"}
    closing = Closing(
        answered_at=timezone.now(), read_ms=read_ms, outcome=outcomes["overall"], dimension_outcomes=others,
        gold_passed=gold[0], flagged=bool(flags), last_choice=ballot.overall, streak=streak,
    )  # fmt: skip
    vote_close(vote, closing, flags, verdicts_insert_statement(verdicts))
    return replace(vote, state=Assignment.State.VOTED, outcome=outcomes["overall"], dimension_outcomes=others)


def vote_record(*, token: str, voter: Voter, ballot: Ballot) -> VoteResult:
    """Store the vote on the battle served under `token`, once. A repeat returns the stored vote unchanged.

    Raises NotFound (unknown token), Forbidden (served to someone else), Conflict (skipped), Invalid
    (unknown dimension).
    Nothing is written when it raises.
    """
    # A migration that changed the type of a column the prepared lock returns makes PostgreSQL refuse it once
    # per connection (`vote_store.stale_prepared_plan`); the rollback undid all of the attempt (nothing is
    # counted before the commit) and made psycopg forget its prepared statements, so the vote is run again,
    # once. Inside a caller's transaction only a savepoint rolls back, which psycopg does not watch: no retry.
    retry = not transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic():
            result = vote_record_locked(locked_vote_of(token, voter), voter, ballot)
    except DatabaseError as error:
        if not (retry and stale_prepared_plan(error)):
            raise
        with transaction.atomic():
            result = vote_record_locked(locked_vote_of(token, voter), voter, ballot)
    vote_counted(result)
    return result


def vote_record_locked(vote: LockedVote, voter: Voter, ballot: Ballot) -> VoteResult:
    """`vote_record`'s work on a vote already locked and checked (`vote_checked`), inside the caller's
    transaction; the caller calls `vote_counted` once it is committed."""
    if vote.state == Assignment.State.VOTED:
        return VoteResult(vote, replayed=True)
    if vote.state == Assignment.State.SKIPPED:
        raise Conflict("You skipped this battle, so it takes no vote any more. Load the next one.")
    read_ms = max(0, int((timezone.now() - vote.served_at).total_seconds() * 1000))
    dimensions, names = _dimension_ids(vote, ballot)
    choices = {"overall": ballot.overall, **ballot.dimensions}
    outcomes = {slug: battle_outcome(choice, left_is_a=vote.left_is_a) for slug, choice in choices.items()}
    verdicts = _verdicts(vote, dimensions, outcomes, voter)
    closed = _close(vote, ballot, outcomes, read_ms, verdicts)
    return VoteResult(closed, replayed=False, dimension_names=names)


def vote_counted(result: VoteResult) -> None:
    """After the vote's commit, so a vote that failed is not counted: serving ranks pairs by these counts."""
    if not result.replayed:
        vote = result.vote
        pair_vote_added(
            vote.task_id, vote.contender_a_id, vote.contender_b_id, held=(vote.assignment_id, vote.battle_id)
        )
