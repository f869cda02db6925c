"""The home page invites: what is ranked, the top of the main board with intervals, Vote now, open tasks with
their progress, recent activity, and never an answer beside its model's name."""

import re

import pytest
from django.urls import reverse

from arena.models import Output
from arena.voting.stats import task_progress
from leaderboard.services.recompute import leaderboards_recompute
from tests.support import factories


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _vote_a_few(task, n: int) -> None:
    from arena.voting.ballots import Ballot
    from arena.voting.recording import vote_record

    choices = ["left", "right", "tie"]
    for i in range(n):
        user = factories.make_annotator_user(f"voter-{i}")
        for j in range(3):  # three votes each, mixed, so the fit has wins and losses for everyone
            assignment = factories.serve_to(task, user)
            ballot = Ballot(overall=choices[(i + j) % 3])
            vote_record(token=assignment.token, voter=factories.voter_of(user), ballot=ballot)


def test_an_empty_arena_says_what_fills_it(client, db):
    html = client.get(reverse("arena:home")).content.decode()
    assert "This arena ranks <strong>0 models</strong>" in html
    assert "No voting task is open right now" in html and "Votes and judge verdicts fill it" in html


def test_the_home_page_shows_scope_top_board_tasks_and_activity(client, db):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=2)
    _vote_a_few(task, 4)
    leaderboards_recompute(trigger="test")
    html = client.get(reverse("arena:home")).content.decode()
    assert "This arena ranks <strong>3 models</strong>" in html and "<strong>2 prompts</strong>" in html
    assert "in 1 category," in html and "Categories: general." in html  # each category once
    assert re.search(r'<a class="button big" href="/vote/" data-testid="vote-now">Vote now</a>', html)
    top = html[html.index('data-testid="home-top"') : html.index('data-testid="home-tasks"')]
    assert '<div class="table-scroll">' in top
    assert sum(c.name in top for c in contenders) == 3
    assert re.search(r'<td class="ci">-?\d+\.\d – -?\d+\.\d</td>', top), "the interval of each row is shown"
    progress = task_progress(task)
    assert progress.votes == 12  # 4 voters × 3 votes, at least LEADERBOARD_MIN_VERDICTS (10)
    assert f'max="{progress.goal}" value="12"' in html and f"12 of {progress.goal} votes wanted" in html
    assert "<strong>12</strong> votes by people in the last 24 hours" in html
    assert "Leaderboards recomputed" in html


def test_the_home_page_shows_no_answer_text(client, db):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=2)
    Output.objects.update(text="A secret blind answer to keep away from names")
    leaderboards_recompute(trigger="test")
    html = client.get(reverse("arena:home")).content.decode()
    assert contenders[0].name in html  # the names are there (recent activity) ...
    assert "secret blind answer" not in html  # ... but never an answer
