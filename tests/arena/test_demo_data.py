"""The demo arena loads, twice without duplicates, with what docs/development.md promises."""

from django.core.management import call_command

from arena.models import Battle, Contender, Output, Prompt


def test_demo_loads_idempotently(db):
    call_command("load_demo")
    counts = (Contender.objects.count(), Output.objects.count(), Battle.objects.count())
    call_command("load_demo")
    assert (Contender.objects.count(), Output.objects.count(), Battle.objects.count()) == counts
    assert Contender.objects.filter(status="approved").count() >= 5
    assert Prompt.objects.exclude(reference_answer="").count() == Prompt.objects.count() >= 12
    assert Prompt.objects.values("category").distinct().count() >= 4
    # every approved pair meets on every prompt
    n_approved = Contender.objects.filter(status="approved").count()
    assert Battle.objects.count() == Prompt.objects.count() * n_approved * (n_approved - 1) // 2
