"""Undo of the last vote, the task's progress bar, the reveal for screen readers, and every dimension offered."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from arena.models import Annotator, Assignment, Dimension, Verdict, VoteFlag
from arena.voting.pair_votes import pair_votes
from arena.voting.stats import task_progress
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


@pytest.fixture
def task_with_dimensions(db):
    """A smaller voting task (three contenders, two prompts) that also asks about two more dimensions."""
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=2)
    task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["helpfulness", "harmlessness"]))
    return task


def _page(client, task, **extra):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **extra)


def _token(response) -> str:
    return re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', response.content.decode()).group(1)


def _vote(client, token, **ballot):
    return client.post(reverse("voting:submit", args=[token]), ballot or {"overall": "left"}, **HX)


def _undo(client, token, **extra):
    return client.post(reverse("voting:undo", args=[token]), **extra)


def _pair_total(task) -> int:
    return sum(pair_votes(task.pk).values())


def test_undo_withdraws_every_verdict_and_closes_the_battle_for_the_voter(voter_client, task_with_dimensions):
    token = _token(_page(voter_client, task_with_dimensions))
    _vote(voter_client, token, overall="left", **{"dim-helpfulness": "right"})
    assert Verdict.objects.count() == 2 and _pair_total(task_with_dimensions) == 1
    response = _undo(voter_client, token, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    # The reveal named both sides: the battle is not served to this voter again, the next one is.
    next_token = _token(response)
    assert next_token != token and 'data-vote-state="open"' in html
    assert 'data-testid="undone"' in html and "Your vote was withdrawn" in html
    assignment = Assignment.objects.get(token=token)
    assert (assignment.state, assignment.outcome) == ("skipped", None)
    assert not Verdict.objects.exists() and _pair_total(task_with_dimensions) == 0
    # A vote sent on the undone battle anyway is refused and counts nothing.
    again = _vote(voter_client, token, overall="tie")
    assert (
        again.status_code == 409 and not Verdict.objects.exists() and _pair_total(task_with_dimensions) == 0
    )
    assert task_progress(task_with_dimensions).votes == 0


def test_undo_without_javascript_redirects_to_the_next_battle(voter_client, task_with_dimensions):
    token = _token(_page(voter_client, task_with_dimensions))
    voter_client.post(reverse("voting:submit", args=[token]), {"overall": "right"})
    response = _undo(voter_client, token)
    assert response.status_code == 302 and response["Location"].endswith("?start=1")
    page = voter_client.get(response["Location"])
    assert _token(page) != token and "Your vote was withdrawn" in page.content.decode()


def test_undo_drops_the_vote_flags_and_the_streak_it_added(voter_client, task_with_dimensions, voter):
    token = _token(
        _page(voter_client, task_with_dimensions)
    )  # voted at once: faster than the reading time, so flagged
    _vote(voter_client, token)
    assert VoteFlag.objects.filter(assignment__token=token).exists()
    _undo(voter_client, token, **HX)
    annotator = Annotator.objects.get(user=voter)
    assert not VoteFlag.objects.exists() and (annotator.last_choice, annotator.streak) == ("", 0)
    assert not Assignment.objects.get(token=token).flagged


def test_undo_after_the_window_is_refused_and_changes_nothing(voter_client, task_with_dimensions, settings):
    settings.ARENA_VOTE_UNDO_SECONDS = 30
    token = _token(_page(voter_client, task_with_dimensions))
    _vote(voter_client, token)
    Assignment.objects.filter(token=token).update(answered_at=timezone.now() - timedelta(seconds=31))
    response = _undo(voter_client, token, **HX)
    assert response.status_code == 409
    assert "only within 30 seconds; this one stands" in response.content.decode()
    assert Assignment.objects.get(token=token).state == "voted" and Verdict.objects.count() == 1
    assert _pair_total(task_with_dimensions) == 1


def test_undo_once_the_next_battle_is_served_is_refused(voter_client, task_with_dimensions):
    token = _token(_page(voter_client, task_with_dimensions))
    _vote(voter_client, token)
    next_token = _token(_page(voter_client, task_with_dimensions, **HX))
    response = _undo(voter_client, token, **HX)
    assert response.status_code == 409 and "loaded your next battle already" in response.content.decode()
    assert Assignment.objects.get(token=token).state == "voted" and Verdict.objects.count() == 1
    assert Assignment.objects.get(token=next_token).state == "served"


def test_undo_of_a_battle_not_voted_on_or_someone_elses_is_refused(
    voter_client, task_with_dimensions, client
):
    token = _token(_page(voter_client, task_with_dimensions))
    response = _undo(voter_client, token, **HX)
    assert response.status_code == 409 and "no vote to undo" in response.content.decode()
    _vote(voter_client, token)
    voter_client.logout()
    voter_client.force_login(factories.make_annotator_user("mallory"))
    _page(voter_client, task_with_dimensions)  # mallory is an annotator too
    response = _undo(voter_client, token, **HX)
    assert response.status_code == 403 and "served to someone else" in response.content.decode()
    assert Assignment.objects.get(token=token).state == "voted" and Verdict.objects.count() == 1
    assert _undo(voter_client, "no-such-token", **HX).status_code == 404


def test_undo_can_be_switched_off(voter_client, task_with_dimensions, settings):
    settings.ARENA_VOTE_UNDO_SECONDS = 0
    token = _token(_page(voter_client, task_with_dimensions))
    html = _vote(voter_client, token).content.decode()
    assert 'id="undo-vote"' not in html
    response = _undo(voter_client, token, **HX)
    assert response.status_code == 409 and Verdict.objects.count() == 1


def test_the_reveal_offers_undo_announces_the_names_and_refreshes_the_progress(
    voter_client, task_with_dimensions
):
    token = _token(_page(voter_client, task_with_dimensions))
    html = _vote(voter_client, token).content.decode()
    assert 'id="undo-vote"' in html and f'hx-post="/vote/b/{token}/undo/"' in html
    announce = re.search(r'<p id="vote-announce"[^>]*>(.*?)</p>', html, re.DOTALL)
    assert (
        announce
        and 'aria-live="polite"' in announce.group(0)
        and 'hx-swap-oob="innerHTML"' in announce.group(0)
    )
    assignment = Assignment.objects.get(token=token)
    left = assignment.battle.contender_a if assignment.left_is_a else assignment.battle.contender_b
    assert f"A was {left.name}" in announce.group(1)
    progress_url = reverse("voting:progress", args=[task_with_dimensions.slug])
    assert f'hx-get="{progress_url}" hx-trigger="load" hx-target="#vote-progress"' in html
    fragment = voter_client.get(progress_url, **HX).content.decode()
    assert fragment.lstrip().startswith('<div id="vote-progress"') and 'data-testid="total">1<' in fragment


def test_the_progress_bar_counts_the_tasks_votes_toward_its_goal(voter_client, task_with_dimensions):
    # 3 contenders answer 2 prompts each: 3 pairs × 2 prompts = 6 battles, 2 votes wanted on each
    goal = 3 * 2 * task_with_dimensions.votes_per_battle
    html = _page(voter_client, task_with_dimensions).content.decode()
    assert f'<progress id="task-goal" class="goal-bar" max="{goal}" value="0"' in html
    assert '<label for="task-goal">' in html  # the bar is labelled
    token = _token(_page(voter_client, task_with_dimensions))
    _vote(voter_client, token)
    fragment = voter_client.get(reverse("voting:progress", args=[task_with_dimensions.slug])).content.decode()
    assert f'max="{goal}" value="1"' in fragment and 'data-testid="task-votes">1<' in fragment
    assert task_progress(task_with_dimensions).percent == round(100 / goal)


def test_the_progress_fragment_needs_a_voter(client, task_with_dimensions):
    response = client.get(reverse("voting:progress", args=[task_with_dimensions.slug]), **HX)
    assert response.status_code == 403 and "Sign in to vote" in response.content.decode()


def test_every_dimension_of_the_prompt_set_is_offered_folded_away(voter_client, task_with_dimensions):
    html = _page(voter_client, task_with_dimensions).content.decode()
    assert 'data-testid="more-dimensions"' in html and "More dimensions" in html
    assert 'data-row="helpfulness"' in html and 'data-row="harmlessness"' in html
    assert 'data-row="correctness"' not in html  # not chosen for this prompt set
    token = _token(_page(voter_client, task_with_dimensions))
    _vote(voter_client, token, overall="left", **{"dim-harmlessness": "tie", "dim-helpfulness": "left"})
    assert set(Verdict.objects.values_list("dimension__slug", flat=True)) == {
        "overall",
        "harmlessness",
        "helpfulness",
    }


def test_staff_choose_the_dimensions_on_the_task_form(admin_client, task_with_dimensions):
    url = reverse("admin:arena_annotationtask_change", args=[task_with_dimensions.pk])
    form = admin_client.get(url).content.decode()
    assert 'name="vote_dimensions"' in form
    helpfulness, clarity = (Dimension.objects.get(slug=s) for s in ("helpfulness", "clarity"))
    assert re.search(rf'value="{helpfulness.pk}"[^>]*checked', form)
    data = {
        "name": task_with_dimensions.name, "slug": task_with_dimensions.slug, "prompt_set": task_with_dimensions.prompt_set_id,
        "contenders": list(task_with_dimensions.contenders.values_list("pk", flat=True)), "votes_per_battle": 2,
        "guidelines": task_with_dimensions.guidelines, "gold_rate": 0.0, "is_active": "on", "vote_dimensions": [clarity.pk],
        "gold_battles-TOTAL_FORMS": 0, "gold_battles-INITIAL_FORMS": 0,
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(task_with_dimensions.prompt_set.vote_dimensions.values_list("slug", flat=True)) == ["clarity"]


def test_the_task_choice_shows_each_tasks_progress(voter_client, task_with_dimensions):
    other, _ = factories.make_voting_arena(
        n_contenders=2, n_prompts=1, slug="other-set", prefix="other", task_slug="other"
    )
    html = voter_client.get(reverse("voting:vote")).content.decode()
    for task in (task_with_dimensions, other):
        goal = task_progress(task).goal
        assert f'<progress id="task-{task.pk}" max="{goal}" value="0">' in html
        assert f'<label for="task-{task.pk}">0 of {goal} votes wanted</label>' in html
