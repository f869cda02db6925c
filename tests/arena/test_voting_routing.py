"""Routing: battles the LLM judges dispute are offered to people first, the most disputed first."""

import pytest

from arena.models import Dimension
from arena.services.battles import battle_get_or_create, source_get_or_create
from arena.services.verdicts import verdict_record
from arena.voting.ballots import Ballot
from arena.voting.recording import vote_record
from tests.support import factories


@pytest.fixture
def judges(db):
    return [source_get_or_create(kind="judge", key=f"judge-{n}", name=f"Judge {n}") for n in (1, 2)]


def _battle(contenders, prompt: str, pair=(0, 1)):
    a, b = (contenders[i].outputs.get(prompt__external_id=prompt) for i in pair)
    return battle_get_or_create(output_a=a, output_b=b)[0]


def _say(battle, source, outcome, *, dimension="overall", inconsistent=False):
    verdict_record(
        battle=battle,
        dimension=Dimension.objects.get(slug=dimension),
        source=source,
        outcome=outcome,
        inconsistent=inconsistent,
    )


def _serve_and_vote(task, user):
    assignment = factories.serve_to(task, user)
    if assignment is not None:
        vote_record(token=assignment.token, voter=factories.voter_of(user), ballot=Ballot("left"))
    return assignment


def test_served_order_follows_the_dispute_priority(db, judges):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=4, inconsistent_first=True)
    both_ways = _battle(contenders, "p1")  # judges disagree and one of them contradicted itself: 2 + 1
    _say(both_ways, judges[0], "a")
    _say(both_ways, judges[1], "tie", inconsistent=True)
    disagree = _battle(contenders, "p2", (1, 2))  # judges disagree: 2
    _say(disagree, judges[0], "a")
    _say(disagree, judges[1], "b")
    inconsistent = _battle(contenders, "p3", (0, 2))  # one judge contradicted itself: 1
    _say(inconsistent, judges[0], "tie", inconsistent=True)
    agreed = _battle(contenders, "p4")  # judges agree: no priority
    _say(agreed, judges[0], "b")
    _say(agreed, judges[1], "b")
    user = factories.make_annotator_user("alice")
    routed = [_serve_and_vote(task, user) for _ in range(3)]
    served = [assignment.battle_id for assignment in routed]
    assert served == [both_ways.pk, disagree.pk, inconsistent.pk]
    # Then the ordinary pair priority takes over, which may serve any other battle, the agreed one included.
    # Each assignment records whether routing chose it (calibrated judge boards leave those battles out).
    ordinary = _serve_and_vote(task, user)
    assert ordinary.battle_id not in served
    assert [a.disputed for a in routed] == [True, True, True] and ordinary.disputed is False


def test_disagreement_counts_only_within_one_dimension(db, judges):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=6, inconsistent_first=True)
    clarity, _ = Dimension.objects.get_or_create(slug="clarity", defaults={"name": "Clarity", "rubric": "?"})
    different_questions = _battle(contenders, "p1")
    _say(different_questions, judges[0], "a", dimension="overall")
    _say(different_questions, judges[1], "b", dimension=clarity.slug)
    disputed = _battle(contenders, "p2")
    _say(disputed, judges[0], "a", dimension=clarity.slug)
    _say(disputed, judges[1], "b", dimension=clarity.slug)
    user = factories.make_annotator_user("alice")
    assert _serve_and_vote(task, user).battle_id == disputed.pk
    # The battle whose judges answered different dimensions has no priority: across six prompts of one pair
    # the next serve is that battle only if the ordinary order happens to pick it, so check the priority
    # itself instead of the luck of the draw.
    from arena.models import Battle
    from arena.voting.selection import _dispute_score

    scores = dict(Battle.objects.annotate(d=_dispute_score()).values_list("pk", "d"))
    assert scores[different_questions.pk] == 0 and scores[disputed.pk] == 2


def test_jury_verdicts_are_not_counted_as_judges_disagreeing(db, judges):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=3, inconsistent_first=True)
    jury = source_get_or_create(kind="jury", key="jury-panel", name="Panel")
    battle = _battle(contenders, "p1")
    _say(battle, judges[0], "a")
    _say(battle, jury, "b")
    from arena.models import Battle
    from arena.voting.selection import _dispute_score

    assert Battle.objects.annotate(d=_dispute_score()).get(pk=battle.pk).d == 0


def test_a_disputed_battle_stops_coming_first_once_it_has_the_votes_wanted(db, judges):
    task, contenders = factories.make_voting_arena(
        n_contenders=2, n_prompts=3, inconsistent_first=True, votes_per_battle=2
    )
    disputed = _battle(contenders, "p1")
    _say(disputed, judges[0], "a")
    _say(disputed, judges[1], "b")
    voters = [factories.make_annotator_user(f"v{i}") for i in range(3)]
    served = [_serve_and_vote(task, voter).battle_id for voter in voters]
    assert served[:2] == [disputed.pk, disputed.pk] and served[2] != disputed.pk
