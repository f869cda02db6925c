"""The demo arena comes with people's votes: a task, gold battles, and seeded votes by demo annotators."""

from django.core.management import call_command

from arena.models import AnnotationTask, Assignment, GoldBattle, Verdict
from arena.services.battles import people_source


def test_demo_votes_are_verdicts_of_the_people_and_idempotent(demo_arena):
    call_command("demo_votes")
    votes = Verdict.objects.filter(source=people_source(), dimension__slug="overall")
    n = votes.count()
    call_command("demo_votes")
    assert votes.count() == n >= 100
    assert votes.values("voter_key").distinct().count() >= 4
    assert all(key.startswith("u:") for key in votes.values_list("voter_key", flat=True))
    task = AnnotationTask.objects.get()
    assert GoldBattle.objects.filter(task=task).count() >= 3 and task.guidelines
    assert Assignment.objects.filter(state="voted").count() == n


def test_demo_annotators_prefer_answers_with_the_reference(demo_arena):
    call_command("demo_votes")
    wins = total = 0
    for verdict in Verdict.objects.filter(
        source=people_source(), dimension__slug="overall", outcome__in=["a", "b"]
    ).select_related("battle__prompt", "battle__output_a", "battle__output_b"):
        reference = verdict.battle.prompt.reference_answer.lower()
        good_a, good_b = (
            reference in o.text.lower() for o in (verdict.battle.output_a, verdict.battle.output_b)
        )
        if good_a != good_b:
            total += 1
            wins += (verdict.outcome == "a") == good_a
    assert total >= 20 and wins / total > 0.7


def test_demo_people_vote_on_every_dimension_of_the_demo_set(demo_arena):
    call_command("demo_votes")
    voted = set(
        Verdict.objects.filter(source=people_source()).values_list("dimension__slug", flat=True).distinct()
    )
    assert voted == {"overall", "helpfulness", "correctness", "conciseness", "clarity", "harmlessness"}
