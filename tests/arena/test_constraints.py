"""The database itself refuses impossible rows, whatever code writes them."""

import pytest
from django.db import IntegrityError, transaction

from arena.errors import Invalid
from arena.models import Battle, Dimension, Output, Verdict
from arena.services.battles import battle_get_or_create, people_source
from arena.services.verdicts import verdict_record
from tests.support import factories


@pytest.fixture
def two_outputs(prompt_set):
    a, b = factories.make_contender("a"), factories.make_contender("b")
    return factories.make_outputs(a, prompt_set)[0], factories.make_outputs(b, prompt_set)[0]


def test_the_six_dimensions_are_seeded_with_rubrics(db):
    dims = list(Dimension.objects.values_list("slug", flat=True))
    assert dims == ["overall", "helpfulness", "correctness", "conciseness", "clarity", "harmlessness"]
    assert all(Dimension.objects.values_list("rubric", flat=True))


def test_one_output_per_contender_and_prompt(two_outputs):
    first, _ = two_outputs
    with pytest.raises(IntegrityError), transaction.atomic():
        Output.objects.create(contender=first.contender, prompt=first.prompt, text="again")


def test_empty_output_text_is_refused(two_outputs):
    first, _ = two_outputs
    other = factories.make_contender("c")
    with pytest.raises(IntegrityError), transaction.atomic():
        Output.objects.create(contender=other, prompt=first.prompt, text="")


def test_a_battle_needs_two_contenders(two_outputs):
    first, _ = two_outputs
    with pytest.raises(IntegrityError), transaction.atomic():
        Battle.objects.create(
            prompt=first.prompt,
            output_a=first,
            output_b=first,
            contender_a=first.contender,
            contender_b=first.contender,
        )
    with pytest.raises(Invalid, match="two different contenders"):
        battle_get_or_create(output_a=first, output_b=first)


def test_verdict_score_must_match_outcome_and_stay_in_unit_interval(two_outputs):
    battle, _ = battle_get_or_create(output_a=two_outputs[0], output_b=two_outputs[1])
    overall = Dimension.objects.get(slug="overall")
    common = {
        "battle": battle,
        "dimension": overall,
        "source": people_source(),
        "contender_a": battle.contender_a,
        "contender_b": battle.contender_b,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Verdict.objects.create(outcome="a", score=0.0, voter_key="u:1", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Verdict.objects.create(outcome=None, score=1.5, voter_key="u:2", **common)
    with pytest.raises(Invalid, match="Unknown outcome 'maybe'"):
        verdict_record(
            battle=battle, dimension=overall, source=people_source(), outcome="maybe", voter_key="u:3"
        )
    assert not Verdict.objects.exists()


def test_a_verdict_is_stored_once_per_voter(two_outputs):
    battle, _ = battle_get_or_create(output_a=two_outputs[0], output_b=two_outputs[1])
    overall = Dimension.objects.get(slug="overall")
    first, created = verdict_record(
        battle=battle, dimension=overall, source=people_source(), outcome="b", voter_key="u:1"
    )
    again, created_again = verdict_record(
        battle=battle, dimension=overall, source=people_source(), outcome="a", voter_key="u:1"
    )
    assert created and not created_again and again.pk == first.pk and again.outcome == "b"
    soft, _ = verdict_record(
        battle=battle, dimension=overall, source=people_source(), score=0.7, voter_key="u:2"
    )
    assert soft.outcome is None and soft.score == 0.7
    assert Verdict.objects.count() == 2
