"""The blindness rule: which outputs an active annotation task may serve."""

from arena.blindness import battles_blind_q, blind_output_ids, may_see_blind, output_is_blind
from arena.models import Battle, Output
from arena.services.battles import battle_get_or_create
from tests.support import factories


def _ids():
    return set(Output.objects.filter(id__in=blind_output_ids()).values_list("id", flat=True))


def test_it_marks_only_the_task_contenders_answers_in_its_prompt_set(db):
    task_set = factories.make_prompt_set("task-set", n_prompts=2)
    other_set = factories.make_prompt_set("other-set", n_prompts=2)
    served, unserved = factories.make_contender("served"), factories.make_contender("unserved")
    served_out = factories.make_outputs(served, task_set)
    unserved_out = factories.make_outputs(unserved, task_set)
    elsewhere = factories.make_outputs(served, other_set)
    factories.make_voting_task(task_set, [served])

    assert _ids() == {o.pk for o in served_out}
    assert output_is_blind(served_out[0]) and not output_is_blind(unserved_out[0])
    assert not output_is_blind(elsewhere[0])


def test_a_task_without_a_contender_list_blinds_its_whole_prompt_set(db):
    task_set = factories.make_prompt_set("task-set", n_prompts=2)
    a, b = factories.make_contender("a"), factories.make_contender("b")
    outputs = factories.make_outputs(a, task_set) + factories.make_outputs(b, task_set)
    factories.make_voting_task(task_set, [])
    assert _ids() == {o.pk for o in outputs}


def test_closing_the_task_lifts_blindness(db):
    task_set = factories.make_prompt_set("task-set", n_prompts=1)
    a, b = factories.make_contender("a"), factories.make_contender("b")
    (out_a,), (out_b,) = factories.make_outputs(a, task_set), factories.make_outputs(b, task_set)
    task = factories.make_voting_task(task_set, [a, b])
    battle, _ = battle_get_or_create(output_a=out_a, output_b=out_b)
    assert Battle.objects.filter(battles_blind_q(), pk=battle.pk).exists()
    task.is_active = False
    task.save()
    assert not Battle.objects.filter(battles_blind_q(), pk=battle.pk).exists()
    assert _ids() == set()


def test_only_staff_may_see_blind_answers(db):
    assert may_see_blind(factories.make_user("boss", is_staff=True))
    assert not may_see_blind(factories.make_user("alice"))


def test_a_task_listing_no_approved_contender_blinds_its_whole_prompt_set(db):
    # Selection falls back to every approved contender when none of the listed ones is approved.
    task_set = factories.make_prompt_set("task-set", n_prompts=1)
    alpha, beta = factories.make_contender("alpha"), factories.make_contender("beta")
    pending = factories.make_contender("pend", status="pending")
    outputs = [*factories.make_outputs(alpha, task_set), *factories.make_outputs(beta, task_set)]
    factories.make_outputs(pending, task_set)
    task = factories.make_voting_task(task_set, [pending])
    served = factories.serve_to(task, factories.make_user("voter"))
    assert served is not None
    assert {served.battle.output_a_id, served.battle.output_b_id} <= _ids()
    assert {o.pk for o in outputs} <= _ids()


def test_gold_battles_of_an_open_task_are_blind(db):
    from arena.voting.staff import gold_add

    task_set = factories.make_prompt_set("task-set", n_prompts=1)
    gamma, delta = factories.make_contender("gamma"), factories.make_contender("delta")
    alpha, beta = factories.make_contender("alpha"), factories.make_contender("beta")
    for contender in (gamma, delta):
        factories.make_outputs(contender, task_set)
    (out_a,), (out_b,) = factories.make_outputs(alpha, task_set), factories.make_outputs(beta, task_set)
    task = factories.make_voting_task(task_set, [gamma, delta], gold_rate=1.0)
    battle, _ = battle_get_or_create(output_a=out_a, output_b=out_b)
    gold_add(task=task, battle=battle, expected="a")
    assert {out_a.pk, out_b.pk} <= _ids()
    task.is_active = False
    task.save()
    assert not ({out_a.pk, out_b.pk} & _ids())
