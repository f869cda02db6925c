"""The serve's user, task and annotator in one statement (arena.voting.serve_head): taken only in the ordinary
case; every other session is left to Django's authentication, which answers as before."""

import pytest
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arena.models import Annotator, Assignment
from arena.voting import serve_head as serve_head_module
from arena.voting.identity import annotator_for
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


@pytest.fixture
def heads(monkeypatch):
    """What serve_head answered on each request: a ServeHead, or None (left to Django)."""
    answered = []
    real = serve_head_module.serve_head

    def spy(request, slug):
        head = real(request, slug)
        answered.append(head)
        return head

    monkeypatch.setattr("arena.voting.views.serve_head", spy)
    return answered


def _serve(client, task, **extra):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **extra)


def test_the_user_task_and_annotator_are_read_in_one_statement(client, voting_task, heads):
    user = factories.make_annotator_user("alice")
    annotator = annotator_for(factories.voter_of(user))
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = _serve(client, voting_task, **HX)
    assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
    head = heads[-1]
    assert head.user == user and head.task == voting_task and head.annotator == annotator
    assert head.voter.key == f"u:{user.pk}"
    # The fields as the ORM loads them, none deferred.
    assert head.task.__dict__.keys() >= {f.attname for f in type(voting_task)._meta.concrete_fields}
    assert head.user.password == user.password and head.annotator.created == annotator.created
    first = queries.captured_queries[0]["sql"]
    assert "auth_user" in first and "arena_annotationtask" in first and "arena_annotator" in first
    assert not any('FROM "auth_user"' in q["sql"] for q in queries.captured_queries[1:])
    assert Assignment.objects.get().annotator == annotator


def test_a_first_visit_creates_the_annotator(client, voting_task, heads):
    user = factories.make_annotator_user("newcomer")
    client.force_login(user)
    assert _serve(client, voting_task, **HX).status_code == 200
    assert heads[-1] is not None and heads[-1].annotator is None
    assert Assignment.objects.get().annotator == Annotator.objects.get(voter_key=f"u:{user.pk}")


def test_an_unknown_or_closed_task_is_a_404_and_serves_nothing(client, voting_task, heads):
    client.force_login(factories.make_annotator_user("alice"))
    assert client.get(reverse("voting:task", args=["no-such-task"]) + "?start=1").status_code == 404
    voting_task.is_active = False
    voting_task.save()
    assert _serve(client, voting_task, **HX).status_code == 404
    assert heads[-1] is not None and heads[-1].task is None
    assert not Assignment.objects.exists() and not Annotator.objects.exists()


def test_an_inactive_user_is_left_to_django_which_asks_to_sign_in(client, voting_task, heads):
    user = factories.make_annotator_user("gone")
    client.force_login(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    response = _serve(client, voting_task, **HX)
    assert heads == [None]
    assert response.status_code == 200 and response["HX-Redirect"].startswith(reverse("login"))
    assert not Assignment.objects.exists()


def test_a_deleted_user_is_left_to_django(client, voting_task, heads):
    user = factories.make_annotator_user("deleted")
    client.force_login(user)
    get_user_model().objects.filter(pk=user.pk).delete()
    response = _serve(client, voting_task)
    assert heads == [None] and response.status_code == 302 and reverse("login") in response["Location"]
    assert not Assignment.objects.exists()


def test_a_session_whose_password_hash_no_longer_matches_is_flushed_by_django(client, voting_task, heads):
    user = factories.make_annotator_user("changed")
    client.force_login(user)
    user.set_password("a new password")
    user.save()
    response = _serve(client, voting_task, **HX)
    assert heads == [None] and response["HX-Redirect"].startswith(reverse("login"))
    assert HASH_SESSION_KEY not in client.session  # Django flushed the session
    assert not Assignment.objects.exists()


def test_a_session_of_another_backend_is_left_to_django(client, voting_task, heads, settings):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "django.contrib.auth.backends.AllowAllUsersModelBackend",
    ]
    user = factories.make_annotator_user("other-backend")
    client.force_login(user, backend="django.contrib.auth.backends.AllowAllUsersModelBackend")
    response = _serve(client, voting_task, **HX)
    assert heads == [None] and response.status_code == 200  # Django's get_user signs them in as before
    assert Assignment.objects.get().annotator.voter_key == f"u:{user.pk}"


def test_a_signed_out_browser_is_left_to_django(client, voting_task, heads):
    response = _serve(client, voting_task)
    assert heads == [None] and response.status_code == 302
    assert not Assignment.objects.exists()


def test_after_a_vote_the_open_battle_probe_comes_with_the_users_read(client, voting_task, heads):
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    _serve(client, voting_task, **HX)
    served = Assignment.objects.get()
    client.post(reverse("voting:submit", args=[served.token]), {"overall": "left"}, **HX)
    with CaptureQueriesContext(connection) as queries:
        response = _serve(client, voting_task, **HX)
    assert response.status_code == 200 and heads[-1].none_open
    probes = [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT a.id AS a_id")
    ]
    assert probes == [], probes  # serve_store's open-assignment probe did not run
    assert Assignment.objects.filter(state=Assignment.State.SERVED).count() == 1


def test_a_reload_serves_the_open_battle_again(client, voting_task, heads):
    user = factories.make_annotator_user("alice")
    annotator_for(factories.voter_of(user))
    client.force_login(user)
    first = _serve(client, voting_task, **HX)
    again = _serve(client, voting_task, **HX)
    assert heads[0].none_open and not heads[1].none_open
    token = Assignment.objects.get().token
    assert token in first.content.decode() and token in again.content.decode()


def test_a_tab_serving_between_the_read_and_the_insert_is_caught_by_the_insert(
    client, voting_task, monkeypatch
):
    """serve_head said nothing was open, but another tab served just after: this serve must show that tab's
    battle (the database keeps one open per task), never open a second."""
    user = factories.make_annotator_user("alice")
    annotator_for(factories.voter_of(user))  # not a first visit: the probe runs
    client.force_login(user)
    real = serve_head_module.serve_head

    def racing(request, slug):
        head = real(request, slug)
        assert head.none_open
        other = factories.serve_to(voting_task, user)  # the other tab, after the probe
        racing.token = other.token
        return head

    monkeypatch.setattr("arena.voting.views.serve_head", racing)
    response = _serve(client, voting_task, **HX)
    assert response.status_code == 200
    assert Assignment.objects.count() == 1 and racing.token in response.content.decode()


def test_a_tab_that_takes_the_last_battle_meanwhile_is_shown_not_the_done_page(
    client, voting_task, monkeypatch
):
    # serve_head reads "nothing open"; before this serve picks, another tab of the same annotator serves the
    # last battle left. The pick then finds nothing: the page must show that open battle, not "done".
    from arena.voting.serving import assignment_skip

    factories.make_all_battles(voting_task)
    counter = factories.make_annotator_user("counter")
    battles = 0
    while (served := factories.serve_to(voting_task, counter)) is not None:
        assignment_skip(token=served.token, voter=factories.voter_of(counter))
        battles += 1
    assert battles >= 2
    user = factories.make_annotator_user("alice")
    annotator_for(factories.voter_of(user))
    for _ in range(battles - 1):
        served = factories.serve_to(voting_task, user)
        assignment_skip(token=served.token, voter=factories.voter_of(user))
    client.force_login(user)
    real = serve_head_module.serve_head
    other_tab = []

    def racing(request, slug):
        head = real(request, slug)
        assert head is not None and head.none_open
        other_tab.append(factories.serve_to(voting_task, user))
        return head

    monkeypatch.setattr("arena.voting.views.serve_head", racing)
    response = client.get(reverse("voting:task", args=[voting_task.slug]) + "?start=1", **HX)
    assert response.status_code == 200 and other_tab[0] is not None
    assert Assignment.objects.filter(annotator__user=user, state="served").count() == 1
    assert other_tab[0].token in response.content.decode()
