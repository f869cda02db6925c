"""A judge-report battle page shows the answers of a battle an open task may serve to staff only."""

from __future__ import annotations

import pytest

from arena.models import AnnotationTask, Output
from tests.leaderboard.arena_data import arena_make
from tests.support import factories

pytestmark = pytest.mark.django_db


def test_blind_answers_are_withheld_from_non_staff_even_unnamed(client, staff):
    arena = arena_make(("alpha", "beta"), n_prompts=1)
    battle = arena.battles[0]
    Output.objects.filter(pk=battle.output_a_id).update(text="Plain answer seen by few.")
    battle.output_a.refresh_from_db()
    task = factories.make_voting_task(arena.prompt_set, slug="open")
    url = f"/judges/report/battles/{battle.pk}/"

    html = client.get(url).content.decode()
    assert 'data-testid="answers-withheld"' in html and battle.output_a.text not in html

    client.force_login(staff)
    assert battle.output_a.text in client.get(url).content.decode()

    client.logout()
    AnnotationTask.objects.filter(pk=task.pk).update(is_active=False)
    assert battle.output_a.text in client.get(url).content.decode()
