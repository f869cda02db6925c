"""Example battles on contender and compare pages come only from answers no open annotation task may serve;
staff see everything; the page says when examples are withheld."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from arena.models import AnnotationTask
from tests.support import factories

pytestmark = pytest.mark.django_db
WITHHELD = 'data-testid="examples-withheld"'


def _pages(client):
    contender = client.get(reverse("leaderboard:contender", args=["alpha"])).content.decode()
    compare = client.get(reverse("leaderboard:compare"), {"a": "alpha", "b": "beta"}).content.decode()
    return contender, compare


def test_an_open_task_withholds_its_answers_from_the_public_until_it_closes(client, rated_arena):
    task = factories.make_voting_task(rated_arena.prompt_set, slug="open-task")  # serves every contender
    for html in _pages(client):
        assert html.count('data-testid="example-battle"') == 0 and WITHHELD in html

    AnnotationTask.objects.filter(pk=task.pk).update(is_active=False)
    for html in _pages(client):
        assert html.count('data-testid="example-battle"') > 0 and WITHHELD not in html


def test_a_task_on_some_contenders_withholds_only_battles_with_their_answers(client, rated_arena):
    gamma, delta = (c for c in rated_arena.contenders if c.slug in ("gamma", "delta"))
    factories.make_voting_task(rated_arena.prompt_set, [gamma, delta], slug="some")
    html = client.get(reverse("leaderboard:contender", args=["alpha"])).content.decode()
    names = set(re.findall(r"<h4>[AB]: ([^<]+)</h4>", html))
    assert names == {"Alpha", "Beta"} and WITHHELD in html  # alpha vs gamma/delta is withheld


def test_staff_see_blind_examples(client, staff, rated_arena):
    factories.make_voting_task(rated_arena.prompt_set, slug="open-task")
    client.force_login(staff)
    for html in _pages(client):
        assert html.count('data-testid="example-battle"') > 0 and WITHHELD not in html
