"""The lean serve path (arena.voting.lean_serve) against Django's own stack: the same served battle, byte for
byte, with the same headers and cookies; everything that is not the ordinary case left to Django.

Each serve is sent twice, inside a savepoint rolled back after each: once through the handler gunicorn serves
(`VoteRoutedHandler`'s routing, here on Django's test client handler) and once through Django's plain handler,
from the same cookies, with the chances fixed (the battle's pick, its sides and its token) and the serve's
place in Redis forgotten in between, so that both pick the same battle. Status, body, headers and cookies
must be equal, and the database the same after each. Two things differ by design and are compared through
what they stand for: the CSRF token in a form (a new random mask each time; compared unmasked, as the
secret) and a newly made CSRF secret (random; compared as "the same new secret in the cookie and in the
page"); and a cookie's `expires` (the clock's second; its max-age is compared).
"""

import copy
import random
import re
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib.auth import HASH_SESSION_KEY
from django.core.cache import caches
from django.core.signals import got_request_exception
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, transaction
from django.middleware.csrf import _unmask_cipher_token  # type: ignore[attr-defined]  # Django's, unstubbed
from django.test import Client
from django.test.client import ClientHandler
from django.urls import clear_script_prefix, reverse, set_script_prefix

from arena.models import AnnotationTask, Annotator, Assignment, Dimension
from arena.services.battles import people_source
from arena.voting import lean_serve, selection, serving
from arena.voting.identity import annotator_for
from arena.voting.lean_serve import LeanServe
from arena.voting.lean_vote import FORM, LeanVoteRouting, reversed_url
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}
FORM_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


class LeanClientHandler(LeanVoteRouting, ClientHandler):
    """Django's test client handler with the lean routing of `arena.wsgi`."""


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)
    people_source()


class Tokens:
    """Assignment tokens in sequence; `_compare` starts both runs of a request at the same point."""

    issued = 0

    @classmethod
    def new(cls) -> str:
        cls.issued += 1
        return f"fixed-token-{cls.issued}"


@pytest.fixture
def fixed_chances(monkeypatch):
    """The serve's chances fixed: the battle picked (a seeded generator), its sides and its token."""
    monkeypatch.setattr(selection, "random", SimpleNamespace(Random=lambda: random.Random(7)))
    monkeypatch.setattr(serving, "secrets", SimpleNamespace(randbelow=lambda n: 0))
    monkeypatch.setattr(serving, "new_token", Tokens.new)
    monkeypatch.setattr(Tokens, "issued", 0)


@pytest.fixture
def taken(monkeypatch):
    """What LeanServe.respond returned on each request it was offered (None: left to Django)."""
    results: list = []
    real = LeanServe.respond

    def respond(self, request, slug):
        result = real(self, request, slug)
        results.append(result)
        return result

    monkeypatch.setattr(LeanServe, "respond", respond)
    return results


def _clients(user=None) -> tuple[Client, Client]:
    """(through the lean routing, through Django's stack), signed in as `user` (if any) in one session."""
    plain = Client()
    if user is not None:
        plain.force_login(user)
    lean = Client()
    lean.handler = LeanClientHandler()
    lean.cookies = plain.cookies
    return lean, plain


def _url(task) -> str:
    return reverse("voting:task", args=[task.slug]) + "?start=1"


def _state() -> tuple:
    return (
        sorted(
            Assignment.objects.values_list(
                "token",
                "state",
                "battle__output_a_id",
                "battle__output_b_id",
                "left_is_a",
                "gold",
                "disputed",
                "min_read_ms",
                "annotator__voter_key",
            )
        ),
        sorted(Annotator.objects.values_list("voter_key", flat=True)),
    )


def _cookies(response) -> list[tuple[str, str, dict]]:
    """Each cookie set: (name, value, its attributes but `expires`, which is the clock's second)."""
    return sorted(
        (name, morsel.value, {k: v for k, v in morsel.items() if k != "expires" and v})
        for name, morsel in response.cookies.items()
    )


def _answer(response, sent_secret: str | None) -> tuple:
    """The response with its random parts named by what they stand for (this module's docstring)."""
    body = response.content.decode()
    cookies = _cookies(response)
    new_secret = response.cookies["csrftoken"].value if "csrftoken" in response.cookies else None
    names = {new_secret: "NEW-SECRET", sent_secret: "SENT-SECRET"}  # a renewed cookie: the secret sent
    for token in FORM_TOKEN.findall(body):
        secret = _unmask_cipher_token(token)
        assert secret in names, "the form's token must be the cookie's secret, masked"
        body = body.replace(token, names[secret])
    cookies = [(name, names.get(value, value), attrs) for name, value, attrs in cookies]
    return response.status_code, body, sorted(response.headers.items()), cookies


def _compare(lean, plain, url, taken, *, task=None, **extra) -> tuple[tuple, bool, tuple]:
    """Send the same request through both, from the same cookies; assert equal answers and database states.
    (the answer, whether the lean path answered itself, the state)."""
    jar = copy.deepcopy(plain.cookies)
    sent = jar["csrftoken"].value if "csrftoken" in jar else None
    answers, states, took = [], [], False
    issued = Tokens.issued
    for client in (lean, plain):
        lean.cookies = plain.cookies = copy.deepcopy(jar)
        Tokens.issued = issued
        if task is not None:
            caches["default"].delete(f"vote-open:{task.pk}")  # the other run's serve holds no place
        before = len(taken)
        with transaction.atomic():
            answers.append(_answer(client.get(url, **extra), sent))
            states.append(_state())
            transaction.set_rollback(True)
        if client is lean:
            took = any(result is not None for result in taken[before:])
    assert answers[0] == answers[1]
    assert states[0] == states[1]
    return answers[0], took, states[0]


def _annotator(user):
    return annotator_for(factories.voter_of(user))


def _vote(client, body: str) -> None:
    token = re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', body)
    assert token, body[:300]
    response = client.post(
        reverse("voting:submit", args=[token.group(1)]), "overall=left", content_type=FORM, **HX
    )
    assert response.status_code == 200


def test_the_project_settings_are_the_ones_the_lean_serve_was_written_for(db):
    # Fails when the middleware list (or another setting the lean paths reproduce) changes.
    assert lean_serve.lean_enabled()


@pytest.mark.parametrize("dimensions", [[], ["correctness", "clarity"]])
def test_an_ordinary_serve_gets_the_same_answer_as_from_django(
    voter, voting_task, fixed_chances, taken, dimensions
):
    voting_task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=dimensions))
    _annotator(voter)
    lean, plain = _clients(voter)
    (status, body, headers, cookies), took, state = _compare(
        lean, plain, _url(voting_task), taken, task=voting_task, **HX
    )
    assert took and status == 200
    assert "/vote/b/fixed-token-1/" in body and 'data-vote-state="open"' in body
    assert body.count("NEW-SECRET") >= 1  # the form's token, for the secret the cookie now carries
    assert [name for name, _value, _attrs in cookies] == ["csrftoken"]
    assert len(state[0]) == 1 and state[0][0][1] == "served"
    named = dict(headers)
    for header in (
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
    ):
        assert header in named
    assert "frame-ancestors 'none'" in named["Content-Security-Policy"]
    assert named["Vary"] == "Cookie" and "Content-Length" in named  # equal to Django's: the same length
    for dimension in dimensions:
        assert f'name="dim-{dimension}"' in body


def test_the_serve_after_a_vote_gets_the_same_answer_as_from_django(voter, voting_task, fixed_chances, taken):
    lean, plain = _clients(voter)
    _vote(plain, plain.get(_url(voting_task), **HX).content.decode())  # the CSRF cookie is set by now
    assert "csrftoken" in plain.cookies
    (status, body, _headers, cookies), took, _state = _compare(
        lean, plain, _url(voting_task), taken, task=voting_task, **HX
    )
    assert took and status == 200 and 'data-vote-state="open"' in body
    assert "SENT-SECRET" in body and "NEW-SECRET" not in body
    assert cookies[0][:2] == ("csrftoken", "SENT-SECRET")  # renewed, as get_token asks


def test_a_reload_serves_the_open_battle_again_as_django_does(voter, voting_task, taken):
    lean, plain = _clients(voter)
    first = plain.get(_url(voting_task), **HX).content.decode()
    (status, body, _h, _c), took, state = _compare(lean, plain, _url(voting_task), taken, **HX)
    token = re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', first).group(1)
    assert took and status == 200 and f"/vote/b/{token}/" in body and len(state[0]) == 1


def test_nothing_left_to_vote_on_gets_the_same_answer(voter, taken):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1, slug="tiny-set", task_slug="tiny")
    lean, plain = _clients(voter)
    _vote(plain, plain.get(_url(task), **HX).content.decode())
    (status, body, _h, _c), took, _state = _compare(lean, plain, _url(task), taken, **HX)
    assert took and status == 200 and "/vote/b/" not in body


def test_a_rate_limited_serve_gets_the_same_refusal(voter, voting_task, taken, settings):
    _annotator(voter)
    factories.fresh_rate_limits(settings, per_voter=0)
    lean, plain = _clients(voter)
    with mock.patch("arena.voting.ratelimit.time") as clock:  # one instant: the message says how long to wait
        clock.time.return_value = 1_800_000_017.0
        (status, body, headers, _c), took, state = _compare(lean, plain, _url(voting_task), taken, **HX)
    assert status == 429 and took and state[0] == []
    assert "Too many" in body and dict(headers)["Retry-After"] == "43"


def test_a_session_saved_on_every_request_gets_the_same_cookie(
    voter, voting_task, fixed_chances, taken, settings
):
    settings.SESSION_SAVE_EVERY_REQUEST = True
    _annotator(voter)
    lean, plain = _clients(voter)
    (status, _body, _h, cookies), took, _state = _compare(
        lean, plain, _url(voting_task), taken, task=voting_task, **HX
    )
    assert took and status == 200
    assert sorted(name for name, _v, _a in cookies) == ["csrftoken", "sessionid"]
    session = dict((name, attrs) for name, _v, attrs in cookies)["sessionid"]
    assert session["max-age"] == settings.SESSION_COOKIE_AGE and session["httponly"]


def test_a_serve_under_a_script_prefix_takes_the_lean_path(voter, voting_task, fixed_chances, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    url = _url(voting_task)  # the path under the prefix: SCRIPT_NAME carries the prefix itself
    # As Django's WSGI handler sets it from SCRIPT_NAME (the test client's does not).
    set_script_prefix("/arena/")
    try:
        (status, body, _h, _c), took, _state = _compare(
            lean, plain, url, taken, task=voting_task, SCRIPT_NAME="/arena", **HX
        )
    finally:
        clear_script_prefix()
    assert status == 200 and took
    assert '"/arena/vote/b/fixed-token-1/"' in body


def test_a_malformed_csrf_cookie_is_replaced_as_django_replaces_it(voter, voting_task, fixed_chances, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    plain.cookies["csrftoken"] = "not a valid secret"
    (status, body, _h, cookies), took, _state = _compare(
        lean, plain, _url(voting_task), taken, task=voting_task, **HX
    )
    assert took and status == 200 and "NEW-SECRET" in body
    assert cookies[0][:2] == ("csrftoken", "NEW-SECRET")


def test_a_pending_message_is_left_for_the_next_page_as_django_leaves_it(
    voter, voting_task, fixed_chances, taken
):
    from django.contrib import messages
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.test import RequestFactory

    _annotator(voter)
    lean, plain = _clients(voter)
    storage = CookieStorage(RequestFactory().get("/"))
    response = plain.get("/healthz")
    storage.add(messages.INFO, "Your vote was withdrawn.")
    storage.update(response)
    plain.cookies["messages"] = response.cookies["messages"].value
    (status, body, _h, cookies), took, _state = _compare(
        lean, plain, _url(voting_task), taken, task=voting_task, **HX
    )
    assert took and status == 200 and "withdrawn" not in body
    assert "messages" not in [name for name, _v, _a in cookies]  # neither stack touched it


# --- left to Django -----------------------------------------------------------------------------------------


def _left_alike(lean, plain, url, taken, **extra) -> tuple[int, str, tuple]:
    (status, body, _headers, _cookies), took, state = _compare(lean, plain, url, taken, **extra)
    assert not took, "the lean path must leave this request to Django"
    return status, body, state


@pytest.mark.parametrize("query", ["", "?start=1&x=1", "?start=2", "?x=1&start=1"])
def test_another_query_is_not_offered(voter, voting_task, taken, query):
    _annotator(voter)
    lean, plain = _clients(voter)
    response = lean.get(reverse("voting:task", args=[voting_task.slug]) + query, **HX)
    assert response.status_code == 200 and taken == []


def test_a_serve_without_htmx_is_not_offered(voter, voting_task, taken):
    _annotator(voter)
    lean, _plain = _clients(voter)
    response = lean.get(_url(voting_task))
    assert response.status_code == 200 and b"<html" in response.content and taken == []


def test_a_signed_out_browser_is_asked_to_sign_in_by_django(voting_task, taken):
    lean, plain = _clients()
    status, _body, state = _left_alike(lean, plain, _url(voting_task), taken, **HX)
    assert status == 200 and state == ([], [])  # htmx's client redirect to the sign-in page


def test_an_anonymous_voter_is_served_by_django(voting_task, fixed_chances, taken, settings):
    settings.ARENA_ANONYMOUS_VOTING = True
    lean, plain = _clients()
    response = lean.get(_url(voting_task), **HX)
    assert response.status_code == 200 and b"/vote/b/" in response.content
    assert taken == [None] and "sessionid" in response.cookies  # Django's session, made for the voter


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_a_staff_account_is_served_by_django(voter, voting_task, fixed_chances, taken, flag):
    setattr(voter, flag, True)
    voter.save()
    _annotator(voter)
    lean, plain = _clients(voter)
    status, _body, state = _left_alike(lean, plain, _url(voting_task), taken, task=voting_task, **HX)
    assert status == 200 and len(state[0]) == 1


def test_a_first_visit_is_served_by_django_which_creates_the_annotator(
    voter, voting_task, fixed_chances, taken
):
    lean, plain = _clients(voter)
    status, _body, state = _left_alike(lean, plain, _url(voting_task), taken, task=voting_task, **HX)
    assert status == 200 and state[1] == [f"u:{voter.pk}"]


def test_an_inactive_user_is_left_to_django(voter, voting_task, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    voter.is_active = False
    voter.save()
    status, _body, state = _left_alike(lean, plain, _url(voting_task), taken, **HX)
    assert status == 200 and state[0] == []  # asked to sign in


def test_a_session_from_before_a_password_change_is_signed_out_by_django(voter, voting_task, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    voter.set_password("a new password, elsewhere")
    voter.save()
    status, _body, state = _left_alike(lean, plain, _url(voting_task), taken, **HX)
    assert status == 200 and state[0] == []


def test_a_tampered_session_hash_is_left_to_django(voter, voting_task, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    session = plain.session
    session[HASH_SESSION_KEY] = "0" * 64
    session.save()
    status, _body, state = _left_alike(lean, plain, _url(voting_task), taken, **HX)
    assert status == 200 and state[0] == []


def test_an_unknown_or_closed_task_is_djangos_404(voter, voting_task, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    status, _body, _state = _left_alike(
        lean, plain, reverse("voting:task", args=["no-such-task"]) + "?start=1", taken, **HX
    )
    assert status == 404
    AnnotationTask.objects.filter(pk=voting_task.pk).update(is_active=False)
    status, _body, _state = _left_alike(lean, plain, _url(voting_task), taken, **HX)
    assert status == 404


def test_another_host_is_refused_by_django(voter, voting_task, taken, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    _annotator(voter)
    lean, plain = _clients(voter)
    status, _body, _state = _left_alike(lean, plain, _url(voting_task), taken, HTTP_HOST="evil.example", **HX)
    assert status == 400


def test_debug_turns_the_lean_path_off(voter, voting_task, taken, settings):
    settings.DEBUG = True
    _annotator(voter)
    lean, _plain = _clients(voter)
    assert lean.get(_url(voting_task), **HX).status_code == 200 and taken == []


def test_a_head_request_is_not_offered(voter, voting_task, taken):
    _annotator(voter)
    lean, _plain = _clients(voter)
    assert lean.head(_url(voting_task), **HX).status_code == 405 and taken == []  # views.task: GET only


# --- failures and the connection's health check -------------------------------------------------------------


@pytest.fixture
def health_checks(monkeypatch):
    """Django's connection health check armed, as at the start of each request under gunicorn: the calls
    of its SELECT 1 (`is_usable`) recorded."""
    checks: list[bool] = []
    db = connections[DEFAULT_DB_ALIAS]
    real = db.is_usable

    def is_usable():
        checks.append(True)
        return real()

    monkeypatch.setattr(db, "is_usable", is_usable)
    monkeypatch.setattr(db, "health_check_enabled", True)
    db.health_check_done = False
    return checks


def test_a_lean_serve_sends_no_health_check_its_first_statement_stands_in(
    voter, voting_task, taken, health_checks
):
    _annotator(voter)
    lean, _plain = _clients(voter)
    connection.health_check_done = False
    del health_checks[:]
    response = lean.get(_url(voting_task), **HX)
    assert response.status_code == 200 and taken[-1] is not None
    assert health_checks == []


def test_a_failed_first_read_is_left_to_django_which_checks_the_connection(
    voter, voting_task, taken, health_checks
):
    _annotator(voter)
    lean, _plain = _clients(voter)
    connection.health_check_done = False
    del health_checks[:]
    with mock.patch("arena.voting.lean_serve.serve_head", side_effect=OperationalError("connection gone")):
        response = lean.get(_url(voting_task), **HX)
    assert taken == [None] and health_checks == [True]
    assert response.status_code == 200 and Assignment.objects.count() == 1  # Django served it


def test_a_failure_after_the_serve_is_taken_is_djangos_500(voter, voting_task, taken):
    _annotator(voter)
    lean, plain = _clients(voter)
    lean.raise_request_exception = plain.raise_request_exception = False
    signalled = []

    def receiver(sender, request, **kwargs):
        signalled.append(request.path)

    got_request_exception.connect(receiver)
    try:
        with mock.patch("arena.voting.views.assignment_serve", side_effect=RuntimeError("picking failed")):
            (status, _body, headers, _c), took, _state = _compare(lean, plain, _url(voting_task), taken, **HX)
    finally:
        got_request_exception.disconnect(receiver)
    assert status == 500 and took and len(signalled) == 2
    assert dict(headers)["X-Content-Type-Options"] == "nosniff"


def test_the_lean_fragments_csrf_token_is_accepted_by_the_vote_with_csrf_checks_enforced(
    voter, voting_task, taken
):
    """The comparisons above unmask tokens; this posts the vote with the token the lean serve wrote, as a browser
    does, with Django's CSRF checks on."""
    _annotator(voter)
    plain = Client(enforce_csrf_checks=True)
    plain.force_login(voter)
    lean = Client(enforce_csrf_checks=True)
    lean.handler = LeanClientHandler(enforce_csrf_checks=True)
    lean.cookies = plain.cookies
    served = lean.get(_url(voting_task), **HX)
    assert served.status_code == 200
    assert taken[-1] is not None  # the lean path served it
    body = served.content.decode()
    battle_token = re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', body).group(1)  # type: ignore[union-attr]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"', body).group(1)  # type: ignore[union-attr]
    voted = plain.post(
        reverse("voting:submit", args=[battle_token]),
        f"overall=left&csrfmiddlewaretoken={csrf}",
        content_type=FORM,
        **HX,
    )
    assert voted.status_code == 200, voted.content[:300]


def test_a_failure_after_the_assignment_is_written_is_a_500_with_one_assignment(
    voter, voting_task, taken, monkeypatch
):
    """Once the lean path has taken the serve it answers, error or not: the serve is never run a second time."""
    _annotator(voter)
    lean, _ = _clients(voter)
    lean.raise_request_exception = False

    def broken(assignment):
        raise RuntimeError("the battle's view broke after the assignment was written")

    monkeypatch.setattr("arena.voting.views.battle_view", broken)
    answered = lean.get(_url(voting_task), **HX)
    assert answered.status_code == 500
    assert taken[-1] is not None
    assert Assignment.objects.count() == 1


def test_url_shapes_follow_an_overridden_urlconf_outside_a_request(db, settings):
    assert reversed_url("voting:task", "abc") == reverse("voting:task", args=["abc"])  # the default's, kept
    settings.ROOT_URLCONF = "tests.support.prefixed_voting_urls"
    assert reverse("voting:task", args=["abc"]) == "/other/vote/t/abc/"
    assert reversed_url("voting:task", "abc") == "/other/vote/t/abc/"
