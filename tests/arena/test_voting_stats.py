"""Annotators' progress and agreement: with the majority of other people, and between people on a task."""

from datetime import timedelta

import pytest

from arena.models import Assignment
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.stats import (
    Agreement,
    agreement_with_majority,
    annotator_progress,
    majority,
    pairwise_agreement,
)
from tests.support import factories


def test_majority_needs_a_single_most_common_outcome():
    assert majority(["a", "a", "b"]) == "a"
    assert majority(["a", "b"]) is None
    assert majority([]) is None
    assert majority(["tie"]) == "tie"


def test_agreement_with_majority_counts_only_battles_with_a_majority_of_others():
    mine = {1: "a", 2: "b", 3: "tie", 4: "a"}
    others = {1: ["a", "a", "b"], 2: ["a"], 3: ["a", "b"], 5: ["a"]}
    agreement = agreement_with_majority(mine, others)
    assert agreement == Agreement(compared=2, agreed=1) and agreement.rate == 0.5
    assert agreement_with_majority({1: "a"}, {}).rate is None


def test_pairwise_agreement_counts_agreeing_pairs_of_people():
    # battle 1: a,a,b -> 3 pairs, 1 agrees; battle 2: tie,tie -> 1 pair, agrees
    assert pairwise_agreement([["a", "a", "b"], ["tie", "tie"]]) == Agreement(compared=4, agreed=2)


@pytest.fixture
def task(db):
    return factories.make_voting_arena(n_contenders=2, n_prompts=3, votes_per_battle=3)[0]


def _vote(task, user, choice_for_a: str):
    """Vote so that the stored outcome is `choice_for_a` in battle terms, whatever side was shown."""
    assignment = factories.serve_to(task, user)
    displayed = {"a": "left", "b": "right"}.get(choice_for_a, choice_for_a)
    if displayed in ("left", "right") and not assignment.left_is_a:
        displayed = "right" if displayed == "left" else "left"
    vote_record(token=assignment.token, voter=factories.voter_of(user), ballot=Ballot(displayed))
    return Assignment.objects.get(pk=assignment.pk)


def test_progress_counts_today_total_and_skips_and_agreement(task):
    alice, bob, carol = (factories.make_annotator_user(name) for name in ("alice", "bob", "carol"))
    for person, outcomes in ((bob, "aab"), (carol, "abb")):
        for outcome in outcomes:
            _vote(task, person, outcome)
    # alice votes the same battles in the same order of selection (battles with votes come first)
    mine = [_vote(task, alice, "a"), _vote(task, alice, "b")]
    Assignment.objects.filter(pk=mine[0].pk).update(answered_at=mine[0].answered_at - timedelta(days=2))
    progress = annotator_progress(annotator_for(factories.voter_of(alice)))
    assert (progress.total, progress.today, progress.skipped) == (2, 1, 0)
    assert progress.agreement.compared <= 2
    assert progress.agreement.compared == 0 or progress.agreement.rate is not None


def test_agreement_is_measured_against_counted_votes_only(task):
    from arena.voting.staff import annotator_set_excluded

    alice, bob, spam = (factories.make_annotator_user(name) for name in ("alice", "bob", "spam"))
    first = _vote(task, alice, "a")
    battle = first.battle
    for person, outcome in ((bob, "a"), (spam, "b")):
        assignment = _vote(task, person, outcome)
        assert assignment.battle_id == battle.pk  # short battles with votes are completed first
    alice_annotator = annotator_for(factories.voter_of(alice))
    assert annotator_progress(alice_annotator).agreement == Agreement(
        compared=0, agreed=0
    )  # a:1, b:1 -> no majority
    annotator_set_excluded(annotator=annotator_for(factories.voter_of(spam)), excluded=True)
    assert annotator_progress(alice_annotator).agreement == Agreement(compared=1, agreed=1)
