"""A vote becomes people's verdicts in battle A/B terms, exactly once, only from the person it was served to."""

from datetime import timedelta

import pytest

from arena.errors import Conflict, Forbidden, Invalid, NotFound
from arena.models import Assignment, Dimension, Verdict, VoteFlag
from arena.services.battles import people_source
from arena.voting.ballots import Ballot, ballot_from_post, battle_outcome
from arena.voting.identity import Voter
from arena.voting.recording import vote_record
from arena.voting.serving import assignment_skip
from tests.support import factories


def _served(task, voter, *, left_is_a: bool, read_seconds: float = 30):
    assignment = factories.serve_to(task, voter)
    Assignment.objects.filter(pk=assignment.pk).update(
        left_is_a=left_is_a, served_at=assignment.served_at - timedelta(seconds=read_seconds)
    )
    assignment.refresh_from_db()
    return assignment


@pytest.mark.parametrize(
    ("left_is_a", "choice", "stored"),
    [
        (True, "left", "a"),
        (False, "left", "b"),
        (True, "right", "b"),
        (False, "right", "a"),
        (False, "tie", "tie"),
        (True, "both_bad", "both_bad"),
    ],
)
def test_it_maps_the_displayed_side_back_to_the_battle(voting_task, voter, left_is_a, choice, stored):
    assignment = _served(voting_task, voter, left_is_a=left_is_a)
    result = vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot(choice))
    verdict = Verdict.objects.get()
    assert not result.replayed and verdict.outcome == stored == battle_outcome(choice, left_is_a=left_is_a)
    assert (
        verdict.source == people_source() and verdict.user == voter and verdict.voter_key == f"u:{voter.pk}"
    )
    assert (verdict.contender_a_id, verdict.contender_b_id) == (
        assignment.battle.contender_a_id,
        assignment.battle.contender_b_id,
    )
    assert verdict.dimension.slug == "overall" and not verdict.excluded


def test_optional_dimensions_of_the_prompt_set_become_verdicts_too(voting_task, voter):
    voting_task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    assignment = _served(voting_task, voter, left_is_a=False)
    vote_record(
        token=assignment.token,
        voter=factories.voter_of(voter),
        ballot=Ballot("left", {"correctness": "right"}),
    )
    by_dimension = dict(Verdict.objects.values_list("dimension__slug", "outcome"))
    assert by_dimension == {"overall": "b", "correctness": "a"}
    assignment.refresh_from_db()
    assert (
        assignment.state == "voted"
        and assignment.outcome == "b"
        and assignment.dimension_outcomes == {"correctness": "a"}
    )


def test_a_replay_returns_the_first_vote_and_stores_nothing_more(voting_task, voter):
    assignment = _served(voting_task, voter, left_is_a=True)
    as_voter = factories.voter_of(voter)
    first = vote_record(token=assignment.token, voter=as_voter, ballot=Ballot("left"))
    again = vote_record(token=assignment.token, voter=as_voter, ballot=Ballot("right"))
    assert again.replayed and again.vote.outcome == first.vote.outcome == "a"
    assert Verdict.objects.count() == 1


def test_a_vote_for_someone_elses_battle_is_refused_and_nothing_stored(voting_task, voter, other_voter):
    assignment = _served(voting_task, voter, left_is_a=True)
    with pytest.raises(Forbidden, match="served to someone else"):
        vote_record(token=assignment.token, voter=factories.voter_of(other_voter), ballot=Ballot("left"))
    with pytest.raises(Forbidden, match="served to someone else"):
        vote_record(token=assignment.token, voter=Voter(key="s:" + "0" * 40), ballot=Ballot("left"))
    assert not Verdict.objects.exists() and Assignment.objects.get().state == "served"


def test_an_unknown_token_is_a_404_with_advice(voting_task, voter):
    with pytest.raises(NotFound, match="Unknown battle.*Load the next battle"):
        vote_record(token="no-such-token", voter=factories.voter_of(voter), ballot=Ballot("left"))


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({}, "Choose the overall verdict"),
        ({"overall": "maybe"}, "Unknown choice 'maybe' for overall"),
        ({"overall": "left", "dim-clarity": "sideways"}, "Unknown choice 'sideways' for dim-clarity"),
    ],
)
def test_bad_ballots_are_refused_with_what_to_do(post, message):
    with pytest.raises(Invalid, match=message):
        ballot_from_post(post)


def test_a_dimension_the_prompt_set_does_not_ask_for_is_refused_and_nothing_stored(voting_task, voter):
    assignment = _served(voting_task, voter, left_is_a=True)
    with pytest.raises(Invalid, match="asks for no dimension harmlessness"):
        vote_record(
            token=assignment.token,
            voter=factories.voter_of(voter),
            ballot=Ballot("left", {"harmlessness": "left"}),
        )
    assert not Verdict.objects.exists() and Assignment.objects.get().state == "served"


def test_a_skip_is_recorded_but_is_no_vote(voting_task, voter):
    assignment = _served(voting_task, voter, left_is_a=True)
    as_voter = factories.voter_of(voter)
    skipped, changed = assignment_skip(token=assignment.token, voter=as_voter)
    assert changed and skipped.state == "skipped" and skipped.answered_at is not None
    assert assignment_skip(token=assignment.token, voter=as_voter)[1] is False
    with pytest.raises(Conflict, match="You skipped this battle"):
        vote_record(token=assignment.token, voter=as_voter, ballot=Ballot("left"))
    assert not Verdict.objects.exists()
    assert factories.serve_to(voting_task, voter).battle_id != assignment.battle_id


def test_a_vote_faster_than_the_reading_time_is_stored_and_flagged(voting_task, voter, settings):
    settings.ARENA_VOTE_MIN_READ_MS = 5000
    assignment = _served(voting_task, voter, left_is_a=True, read_seconds=0)
    Assignment.objects.filter(pk=assignment.pk).update(min_read_ms=5000)
    vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot("tie"))
    flag = VoteFlag.objects.get()
    assert flag.kind == "too_fast" and "reading the answers takes about 5.0 s" in flag.detail
    assert Assignment.objects.get().flagged and Verdict.objects.count() == 1


def test_the_same_button_many_times_in_a_row_is_flagged(db, voter, settings):
    settings.ARENA_VOTE_SAME_CHOICE_STREAK = 3
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=3, votes_per_battle=2)
    flagged = []
    for choice in ["left", "right", "right", "right", "right"]:
        assignment = _served(task, voter, left_is_a=True)
        vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot(choice))
        flagged.append(Assignment.objects.get(pk=assignment.pk).flagged)
    assert flagged == [False, False, False, True, True]
    assert (
        VoteFlag.objects.filter(kind="same_choice").order_by("created").first().detail
        == "'B is better' 3 times in a row"
    )


def test_a_failed_gold_battle_is_flagged_and_a_passed_one_is_not(db, voter, other_voter):
    from arena.voting.staff import gold_add

    task, _ = factories.make_voting_arena(gold_rate=1.0)
    battle = factories.serve_to(
        task, voter
    ).battle  # any battle of the task; make it gold for the next people
    Assignment.objects.all().delete()
    gold_add(task=task, battle=battle, expected="a")
    passed = _served(task, voter, left_is_a=False)
    failed = _served(task, other_voter, left_is_a=True)
    assert passed.gold and failed.gold
    vote_record(token=passed.token, voter=factories.voter_of(voter), ballot=Ballot("right"))
    vote_record(token=failed.token, voter=factories.voter_of(other_voter), ballot=Ballot("right"))
    assert Assignment.objects.get(pk=passed.pk).gold_passed is True
    assert Assignment.objects.get(pk=failed.pk).gold_passed is False
    assert VoteFlag.objects.get().detail == "expected 'left', chose 'right'"
