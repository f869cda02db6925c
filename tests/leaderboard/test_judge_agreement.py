"""Judges vs people: a judge's verdict against the people's strict majority on the same battle × dimension."""

import pytest

from arena.models import Dimension, Verdict
from arena.services.battles import people_source
from leaderboard.models import JudgeAgreement
from leaderboard.services.agreement import judge_agreements_compute
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source

pytestmark = pytest.mark.django_db
SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


def vote(battle, source, outcome, voter="", dimension="overall", **extra):
    Verdict.objects.create(
        battle=battle,
        dimension=Dimension.objects.get(slug=dimension),
        source=source,
        contender_a_id=battle.contender_a_id,
        contender_b_id=battle.contender_b_id,
        voter_key=voter,
        outcome=outcome,
        score=SCORE[outcome] if outcome else extra.pop("score"),
        **extra,
    )


def people(battle, *outcomes, dimension="overall"):
    for i, outcome in enumerate(outcomes):
        vote(battle, people_source(), outcome, voter=f"s:{i}", dimension=dimension)


def test_agreement_counts_only_battles_with_a_strict_people_majority():
    b = arena_make(("alpha", "beta", "gamma")).battles
    judge = judge_source()
    people(b[0], "a", "a", "b")  # majority A
    people(b[1], "both_bad", "tie", "a")  # majority draw: tie and both-bad are one label
    people(b[2], "a", "b")  # no majority: left out
    people(b[3], "b", "b")  # majority B
    vote(b[0], judge, "a")  # agrees
    vote(b[1], judge, "tie")  # agrees
    vote(b[2], judge, "a")  # left out
    vote(b[3], judge, "a")  # disagrees
    vote(b[4], judge, "a")  # people never voted: left out

    [agreement] = [a for a in judge_agreements_compute() if a.category == ""]

    assert (agreement.source_id, agreement.n_compared, agreement.n_agreed) == (judge.pk, 3, 2)


def test_excluded_votes_soft_verdicts_and_other_dimensions_are_kept_apart():
    b = arena_make(("alpha", "beta", "gamma")).battles
    judge = judge_source()
    people(b[0], "a", "a")
    vote(b[0], people_source(), "b", voter="s:x", excluded=True)
    vote(b[0], people_source(), "b", voter="s:y", excluded=True)
    vote(b[0], people_source(), "b", voter="s:z", excluded=True)
    vote(b[0], judge, "a")
    vote(b[1], judge, None, score=0.75)  # soft: no label
    people(b[1], "a")
    people(b[0], "b", dimension="clarity")
    vote(b[0], judge, "b", dimension="clarity")

    rows = {
        (a.dimension_id, a.n_compared, a.n_agreed) for a in judge_agreements_compute() if a.category == ""
    }

    overall, clarity = Dimension.objects.get(slug="overall").pk, Dimension.objects.get(slug="clarity").pk
    assert rows == {(overall, 1, 1), (clarity, 1, 1)}


def test_a_recompute_stores_agreement_per_judge_and_dimension():
    b = arena_make(("alpha", "beta", "gamma")).battles
    first, second = judge_source("judge-one", "One"), judge_source("judge-two", "Two")
    for battle in b[:4]:
        people(battle, "a", "a", "tie")
        vote(battle, first, "a")
        vote(battle, second, "b")

    run = leaderboards_recompute(trigger="test")

    stored = {
        a.source.key: (a.n_compared, a.n_agreed) for a in JudgeAgreement.objects.filter(run=run, category="")
    }
    assert stored == {"judge-one": (4, 4), "judge-two": (4, 0)}


def test_agreement_from_the_boards_read_equals_its_own_queries():
    """A recompute takes agreement from its one read of every verdict; the two queries the run makes without
    style control give the same counts, per category too (majorities, draws, soft and excluded verdicts,
    two judges, two dimensions)."""
    from leaderboard.services.recompute import boards_and_judging_read

    b = arena_make(("alpha", "beta", "gamma", "delta")).battles
    gpt, llama = judge_source(), judge_source("judge-llama", "Llama judge")
    outcomes = ("a", "b", "tie", "both_bad")
    for k, battle in enumerate(b):
        people(battle, outcomes[k % 4], outcomes[(k // 2) % 4], "a")
        people(battle, outcomes[k % 3], dimension="clarity")
        vote(battle, gpt, outcomes[(k + 1) % 4])
        if k % 5:
            vote(battle, llama, outcomes[k % 4])
        else:
            vote(battle, llama, None, score=0.4)
        vote(battle, llama, outcomes[k % 2], dimension="clarity", voter="", excluded=k % 3 == 0)

    _, judging = boards_and_judging_read()

    queried = judge_agreements_compute()
    assert judging is not None and judging.agreements == queried
    assert {a.category for a in queried} > {""} and len({a.source_id for a in queried}) == 2
