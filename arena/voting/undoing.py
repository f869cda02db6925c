"""Undoing a vote: within ARENA_VOTE_UNDO_SECONDS its voter may take it back.

The vote's verdicts are withdrawn from the ledger (deleted: neither ratings nor pair votes see it)
and its flags dropped. The battle is then closed for this voter as a skip, not served again: the vote's
reveal has shown them both names, and a vote given knowing them must not count (blind votes stay blind).
They go on to the next battle; other people may still be served this one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from arena.errors import Conflict
from arena.models import Assignment, Source, VoteFlag
from arena.services.verdicts import verdicts_withdraw
from arena.voting.identity import Voter
from arena.voting.pair_votes import pair_vote_removed
from arena.voting.recording import locked_vote_of
from arena.voting.vote_store import LockedVote


def undo_deadline(answered_at: datetime) -> datetime:
    """The last moment a vote answered at `answered_at` may be undone."""
    return answered_at + timedelta(seconds=settings.ARENA_VOTE_UNDO_SECONDS)


def _refuse_unless_undoable(vote: LockedVote, assignment: Assignment) -> None:
    if vote.state != Assignment.State.VOTED:
        raise Conflict("This battle has no vote to undo: vote on it, or load the next one.")
    if timezone.now() > undo_deadline(assignment.answered_at):
        raise Conflict(
            f"A vote can be undone only within {settings.ARENA_VOTE_UNDO_SECONDS} seconds; this one stands. "
            "Load the next battle."
        )
    open_elsewhere = Assignment.objects.filter(
        task_id=vote.task_id, annotator_id=vote.annotator_id, state=Assignment.State.SERVED
    ).exists()
    if open_elsewhere:
        raise Conflict(
            "You have loaded your next battle already, so this vote stands. Vote on the battle shown."
        )


def _streak_undone(vote: LockedVote, choice: str) -> tuple[str, int]:
    """The annotator's run of identical choices without this vote. The choice before a run of one is not
    stored, so that run simply ends (a shorter streak only delays a same-choice flag)."""
    if vote.last_choice == choice and vote.streak > 1:
        return vote.last_choice, vote.streak - 1
    return "", 0


def vote_undo(*, token: str, voter: Voter) -> Assignment:
    """Withdraw the vote given under `token` and close its battle for this voter as skipped; returns the
    assignment.

    Raises NotFound (unknown token), Forbidden (served to someone else), Conflict (no vote, window passed,
    or the next battle already served). Nothing is changed when it raises.
    """
    with transaction.atomic():
        vote = locked_vote_of(token, voter)
        assignment = Assignment.objects.get(pk=vote.assignment_id)
        _refuse_unless_undoable(vote, assignment)
        people = Source.objects.get(pk=vote.people_source_id)
        verdicts_withdraw(battle_id=vote.battle_id, source=people, voter_key=vote.voter_key)
        VoteFlag.objects.filter(assignment_id=assignment.pk).delete()
        choice = vote.displayed(assignment.outcome)
        last_choice, streak = _streak_undone(vote, choice)
        assignment.annotator.last_choice, assignment.annotator.streak = last_choice, streak
        assignment.annotator.save(update_fields=["last_choice", "streak"])
        # Skipped, not served again: the reveal named both sides to this voter.
        assignment.state = Assignment.State.SKIPPED
        assignment.outcome, assignment.dimension_outcomes = None, {}
        assignment.gold_passed, assignment.flagged = None, False
        assignment.save(
            update_fields=[
                "state", "outcome", "dimension_outcomes", "gold_passed", "flagged",
            ]
        )  # fmt: skip
    pair_vote_removed(
        vote.task_id,
        vote.contender_a_id,
        vote.contender_b_id,
        held=(vote.assignment_id, vote.battle_id),
        voter_key=vote.voter_key,
    )
    return assignment
