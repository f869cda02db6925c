"""The serve path in SQL: a served battle costs a few statements whatever the history, agreement in SQL
follows the Python rule, and rendered answers are shared between processes through the cache."""

import random
import re
from itertools import combinations

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arena.models import Assignment, Output, Verdict
from arena.rendering import RECENTLY_RENDERED, _shared_key, render_markdown, render_markdown_many
from arena.services.battles import battle_get_or_create, people_source
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.stats import agreement_of, annotator_progress, overall_votes
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}
TOKEN = re.compile(r'/vote/b/([A-Za-z0-9_-]+)/"')
# The user, the task, the annotator; the open assignment (none), the task's contenders, one pair's best
# battle, that battle with its answers, the INSERT; the vote dimensions; progress and the task's goal.
SERVE_STATEMENTS = 11


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _serve(client, task):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **HX)


def _all_battles(task) -> None:
    """Every battle of the task, as in an arena that has run a while (a first serve creates its battle)."""
    outputs = Output.objects.filter(prompt__prompt_set=task.prompt_set).order_by("prompt_id", "contender_id")
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    for answers in by_prompt.values():
        for a, b in combinations(answers, 2):
            battle_get_or_create(output_a=a, output_b=b)


def test_serving_a_battle_takes_a_few_statements_that_do_not_grow_with_votes(client, db):
    task, _ = factories.make_voting_arena(n_contenders=4, n_prompts=6)
    _all_battles(task)
    people_source()  # exists in any arena where someone voted
    user = factories.make_annotator_user("alice")
    annotator_for(factories.voter_of(user))  # a first visit creates the annotator row
    client.force_login(user)
    counts = []
    for round_ in range(4):
        for i in range(3):  # other people's votes accumulate between the measured serves
            other = factories.make_annotator_user(f"v{round_}-{i}")
            assignment = factories.serve_to(task, other)
            vote_record(token=assignment.token, voter=factories.voter_of(other), ballot=Ballot("left"))
        with CaptureQueriesContext(connection) as queries:
            response = _serve(client, task)
        assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
        counts.append(len(queries))
        served = Assignment.objects.get(annotator__user=user, state="served")
        vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
    assert len(set(counts)) == 1, counts
    assert counts[0] <= SERVE_STATEMENTS, counts


def test_a_reload_serves_the_open_battle_in_fewer_statements(client, db):
    task, _ = factories.make_voting_arena()
    client.force_login(factories.make_annotator_user("alice"))
    first = TOKEN.search(_serve(client, task).content.decode()).group(1)
    with CaptureQueriesContext(connection) as queries:
        again = TOKEN.search(_serve(client, task).content.decode()).group(1)
    assert again == first and Assignment.objects.count() == 1
    assert len(queries) <= SERVE_STATEMENTS - 4, "\n".join(q["sql"][:100] for q in queries.captured_queries)


def test_agreement_in_sql_follows_the_python_rule(db):
    """Random overall votes, some of them excluded by staff: the progress statement's agreement equals
    `agreement_of` (arena.voting.stats, the rule's Python form) for every voter."""
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4, votes_per_battle=6)
    rng = random.Random(11)
    people = [factories.make_annotator_user(f"p{i}") for i in range(7)]
    for _ in range(4):
        for person in people:
            assignment = factories.serve_to(task, person)
            if assignment is not None:
                choice = rng.choice(["left", "right", "tie", "both_bad"])
                vote_record(token=assignment.token, voter=factories.voter_of(person), ballot=Ballot(choice))
    Verdict.objects.filter(voter_key=f"u:{people[0].pk}").update(excluded=True)
    votes = overall_votes()
    compared = 0
    for person in people:
        annotator = annotator_for(factories.voter_of(person))
        expected = agreement_of(annotator.voter_key, votes)
        assert annotator_progress(annotator).agreement == expected, person.username
        compared += expected.compared
    assert compared > 0  # the data had battles with a majority to compare against


def test_rendered_answers_are_shared_through_the_cache(db):
    texts = ["# Title\n\n```python\nprint(1)\n```", "", "plain *text*"]
    assert render_markdown_many(texts) == [render_markdown(text) for text in texts]
    assert caches["default"].get(_shared_key(texts[0])) == str(render_markdown(texts[0]))
    # Another process finds the HTML in the cache instead of rendering it (here: this one, its own copy gone).
    RECENTLY_RENDERED.clear()
    caches["default"].set(_shared_key("shared only"), "<p>from the cache</p>")
    assert render_markdown_many(["shared only"]) == ["<p>from the cache</p>"]
    assert render_markdown("shared only") == "<p>from the cache</p>"  # now this process's copy too
    assert len(RECENTLY_RENDERED) == 1
