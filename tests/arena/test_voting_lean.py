"""The lean vote path (arena.voting.lean_vote) against Django's own stack: the same answers, the same refusals.

Each request is sent twice, inside a savepoint rolled back after each: once through the handler gunicorn
serves (`VoteRoutedHandler`, here as Django's test client handler with the same routing) and once through
Django's plain handler. Status, body, headers and cookies must be equal, and the database the same after
each. The refusals the lean path leaves to Django (CSRF, host, session, password hash) are checked to be left
to it, before anything is counted or written.
"""

from datetime import timedelta
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import HASH_SESSION_KEY
from django.core.cache import caches
from django.core.signals import got_request_exception
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, transaction
from django.test import Client
from django.test.client import ClientHandler
from django.test.utils import CaptureQueriesContext
from django.urls import clear_script_prefix, reverse, set_script_prefix
from django.utils import timezone

from arena.cache import RedisCache
from arena.models import Assignment, Contender, Dimension, Verdict, VoteFlag
from arena.services.battles import people_source
from arena.voting import lean_vote, views, vote_store
from arena.voting.held_places import held_places
from arena.voting.lean_vote import LeanVote, LeanVoteRouting
from tests.support import factories
from tests.support.voting_pages import served_tokens

HX = {"HTTP_HX_REQUEST": "true"}


class LeanClientHandler(LeanVoteRouting, ClientHandler):
    """Django's test client handler with the lean vote routing of `arena.wsgi`."""


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)
    people_source()


def _clients(user, *, csrf: bool) -> tuple[Client, Client]:
    """(through the lean routing, through Django's stack), signed in as `user` in one session."""
    plain = Client(enforce_csrf_checks=csrf)
    plain.force_login(user)
    lean = Client(enforce_csrf_checks=csrf)
    lean.handler = LeanClientHandler(enforce_csrf_checks=csrf)
    lean.cookies = plain.cookies
    return lean, plain


def _state() -> tuple:
    return (
        sorted(Verdict.objects.values_list("dimension__slug", "outcome", "voter_key")),
        sorted(Assignment.objects.values_list("token", "state", "outcome")),
        VoteFlag.objects.count(),
    )


def _answer(response) -> tuple:
    cookies = sorted((name, morsel.OutputString()) for name, morsel in response.cookies.items())
    return response.status_code, response.content, sorted(response.headers.items()), cookies


@pytest.fixture
def recording_respond(monkeypatch):
    """Record what LeanVote.respond returned (None: left to Django)."""
    results: list = []
    real = LeanVote.respond

    def respond(self, request, token):
        result = real(self, request, token)
        results.append(result)
        return result

    monkeypatch.setattr(LeanVote, "respond", respond)
    return results


def _compare(lean, plain, url, data, results, *, form=True, **extra) -> tuple[tuple, bool, tuple]:
    """Send the same vote through both; assert equal answers and database states. (answer, whether the lean
    path answered itself, the state). `form`: urlencoded, as htmx sends it; else multipart."""
    answers, states, took = [], [], False
    body = {"data": urlencode(data), "content_type": lean_vote.FORM} if form else {"data": data}
    for client in (lean, plain):
        before = len(results)
        with transaction.atomic():
            answers.append(_answer(client.post(url, **body, **extra)))
            states.append(_state())
            transaction.set_rollback(True)
        if client is lean:
            took = any(result is not None for result in results[before:])
    assert answers[0] == answers[1]
    assert states[0] == states[1]
    return answers[0], took, states[0]


def test_the_project_settings_are_the_ones_the_lean_path_was_written_for(db):
    # Fails when the middleware list (or another setting the lean path reproduces) changes: check
    # arena.voting.lean_vote against the new stack, then update KNOWN_MIDDLEWARE.
    assert lean_vote.lean_enabled()


@pytest.mark.parametrize(
    "ballot",
    [
        {"overall": "left"},
        {"overall": "right"},
        {"overall": "tie"},
        {"overall": "both_bad"},
        {"overall": "left", "dim-correctness": "right"},
        {"overall": "right", "dim-correctness": "tie", "dim-clarity": "both_bad"},
    ],
)
def test_a_good_vote_gets_the_same_answer_as_from_django(voter, voting_task, recording_respond, ballot):
    voting_task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    lean, plain = _clients(voter, csrf=True)
    token, csrf = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    (status, body, _headers, _cookies), took, state = _compare(
        lean, plain, url, ballot, recording_respond, HTTP_X_CSRFTOKEN=csrf, **HX
    )
    assert took and status == 200
    assert len(state[0]) == len(ballot) and state[1][0][1] == "voted"
    assignment = Assignment.objects.get(token=token)
    assert assignment.battle.contender_a.name.encode() in body and b'hx-swap-oob="true"' in body


def test_a_replayed_vote_gets_the_first_answer_and_stores_nothing_more(voter, voting_task):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    form = {"content_type": lean_vote.FORM}
    first = _answer(lean.post(url, "overall=tie", **form, **HX))
    again = _answer(lean.post(url, "overall=left", **form, **HX))
    django = _answer(plain.post(url, "overall=right", **form, **HX))
    assert first == again == django and Verdict.objects.count() == 1


def _refused_alike(lean, plain, url, data, results, **extra) -> tuple[int, str, bool]:
    before = _state()
    (status, body, _headers, _cookies), took, state = _compare(lean, plain, url, data, results, **extra)
    assert state == before, "a refused vote must write nothing"
    return status, body.decode(), took


def test_a_vote_without_a_csrf_token_is_left_to_django_which_refuses_it(
    voter, voting_task, recording_respond
):
    lean, plain = _clients(voter, csrf=True)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    status, body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and "CSRF" in body and not took


def test_a_vote_with_a_wrong_csrf_token_is_refused_as_by_django(voter, voting_task, recording_respond):
    lean, plain = _clients(voter, csrf=True)
    token, csrf = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    wrong = csrf[:-4] + ("AAAA" if not csrf.endswith("AAAA") else "BBBB")
    status, body, took = _refused_alike(
        lean, plain, url, {"overall": "left"}, recording_respond, HTTP_X_CSRFTOKEN=wrong, **HX
    )
    assert status == 403 and "CSRF" in body and not took


def test_a_cross_site_https_vote_is_refused_by_the_origin_check(
    voter, voting_task, recording_respond, settings
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    lean, plain = _clients(voter, csrf=True)
    token, csrf = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    extra = {"HTTP_X_CSRFTOKEN": csrf, "HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "testserver"}
    extra["HTTP_ORIGIN"] = "https://evil.example"
    status, body, took = _refused_alike(
        lean, plain, url, {"overall": "left"}, recording_respond, **extra, **HX
    )
    assert status == 403 and "CSRF verification failed" in body and not took
    # The same request from the arena's own origin is taken, and stored.
    extra["HTTP_ORIGIN"] = "https://testserver"
    (status, _body, _h, _c), took, state = _compare(
        lean, plain, url, {"overall": "left"}, recording_respond, **extra, **HX
    )
    assert status == 200, _body.decode()[-600:]
    assert took and len(state[0]) == 1


def test_a_vote_for_another_host_is_refused_as_by_django(voter, voting_task, recording_respond, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    status, _body, took = _refused_alike(
        lean, plain, url, {"overall": "left"}, recording_respond, HTTP_HOST="evil.example", **HX
    )
    assert status == 400 and not took


def test_a_signed_out_or_expired_session_is_asked_to_sign_in(voter, voting_task, recording_respond):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    plain.cookies["sessionid"] = "no-such-session-key-in-the-store"
    status, body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and "Sign in to vote" in body and not took


def test_a_session_from_before_a_password_change_is_signed_out(voter, voting_task, recording_respond):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    voter.set_password("a new password, elsewhere")
    voter.save()
    status, body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and "Sign in to vote" in body and not took
    # Django flushed the session: the cookie is deleted, as it would be without the lean path.
    assert plain.cookies["sessionid"].value == ""


def test_a_session_whose_hash_was_tampered_with_is_left_to_django(voter, voting_task, recording_respond):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    session = plain.session
    session[HASH_SESSION_KEY] = "0" * 64
    session.save()
    url = reverse("voting:submit", args=[token])
    status, _body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and not took


def test_a_rate_limited_vote_gets_the_same_refusal_and_writes_nothing(
    voter, voting_task, recording_respond, settings
):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    factories.fresh_rate_limits(settings, per_voter=0)
    url = reverse("voting:submit", args=[token])
    clock = mock.patch("arena.voting.ratelimit.time")  # one instant: the message says how long to wait
    clock.start().time.return_value = 1_800_000_017.0
    (status, body, headers, _), took, state = _compare(
        lean, plain, url, {"overall": "left"}, recording_respond, **HX
    )
    assert status == 429 and took and state[0] == []
    clock.stop()
    assert b"Too many votes from this account" in body and b"Wait 43 s" in body
    assert dict(headers)["Retry-After"] == "43"


@pytest.mark.parametrize(
    ("ballot", "status", "message"),
    [
        ({"overall": ""}, 400, "Choose the overall verdict"),
        ({"overall": "middle"}, 400, "Unknown choice 'middle' for overall"),
        ({"overall": "left", "dim-correctness": "sideways"}, 400, "Unknown choice 'sideways'"),
        ({"overall": "left", "dim-made-up": "left"}, 400, "asks for no dimension made-up"),
        ({"overall": "left", "dim-overall": "left"}, 400, "asks for no dimension overall"),
    ],
)
def test_a_bad_ballot_gets_the_same_clear_refusal_and_writes_nothing(
    voter, voting_task, recording_respond, ballot, status, message
):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    with mock.patch("arena.voting.ratelimit.time") as clock:  # one instant: the message says how long to wait
        clock.time.return_value = 1_800_000_017.0
        got, body, took = _refused_alike(lean, plain, url, ballot, recording_respond, **HX)
    assert (got, took) == (status, True) and message in body
    for contender in Contender.objects.all():  # still blind: no name in the refusal
        assert contender.name not in body


def test_someone_elses_unknown_or_skipped_token_is_refused_alike(
    voter, other_voter, voting_task, recording_respond
):
    lean, plain = _clients(voter, csrf=False)
    theirs = factories.serve_to(voting_task, other_voter)
    status, body, took = _refused_alike(
        lean,
        plain,
        reverse("voting:submit", args=[theirs.token]),
        {"overall": "left"},
        recording_respond,
        **HX,
    )
    assert status == 403 and took
    assert all(contender.name not in body for contender in Contender.objects.all())
    status, _body, took = _refused_alike(
        lean,
        plain,
        reverse("voting:submit", args=["no-such-token"]),
        {"overall": "left"},
        recording_respond,
        **HX,
    )
    assert status == 404 and took
    token, _ = served_tokens(plain, voting_task)
    plain.post(reverse("voting:skip", args=[token]), **HX)
    status, body, took = _refused_alike(
        lean, plain, reverse("voting:submit", args=[token]), {"overall": "left"}, recording_respond, **HX
    )
    assert status == 409 and "skipped" in body and took


def test_a_vote_without_htmx_or_not_urlencoded_goes_through_django(voter, voting_task, recording_respond):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    form = {"content_type": lean_vote.FORM}
    with mock.patch("arena.voting.views.vote_record", wraps=views.vote_record) as recorded:
        # The whole page comes back (its form carries a fresh CSRF mask each time: compared by status).
        assert lean.post(url, "overall=left", **form).status_code == 200
        assert lean.post(url, {"overall": "left"}, **HX).status_code == 200  # multipart
    assert recorded.call_count == 2 and not recording_respond  # Django's view both times, never offered
    assert Verdict.objects.count() == 1


def test_a_database_failure_is_djangos_500(voter, voting_task, recording_respond):
    lean, _plain = _clients(voter, csrf=False)
    lean.raise_request_exception = False
    token, _ = served_tokens(lean, voting_task)
    with mock.patch("arena.voting.lean_vote.vote_record_locked", side_effect=RuntimeError("database gone")):
        response = lean.post(
            reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
        )
    assert response.status_code == 500 and recording_respond[-1] is not None
    assert Verdict.objects.count() == 0


def test_a_failure_before_the_vote_is_taken_is_left_to_django(voter, voting_task, recording_respond):
    # The database unreachable while the user is read (before anything is counted): Django's stack answers,
    # with its own handling of the error (arena.unavailable's 503 for a database that cannot be reached).
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    with mock.patch(
        "arena.voting.lean_vote._user_and_vote", side_effect=OperationalError("connection refused")
    ):
        response = lean.post(
            reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
        )
    assert recording_respond == [None]  # left to Django, whose view then stored the vote
    assert response.status_code == 200 and Verdict.objects.count() == 1


def test_a_failure_in_a_response_step_after_the_vote_is_djangos_500(voter, voting_task, recording_respond):
    # The vote is stored, then a middleware's response step fails (the session store, say): as in Django's
    # stack, that layer's exception becomes the 500 page, signalled, and the outer layers still run.
    lean, _plain = _clients(voter, csrf=False)
    lean.raise_request_exception = False
    token, _ = served_tokens(lean, voting_task)
    failing = mock.Mock(side_effect=RuntimeError("session store gone"))
    path = lean.handler._lean
    path.responders = [
        (name, failing if name.endswith("SessionMiddleware") else step) for name, step in path.responders
    ]
    signalled = []

    def receiver(sender, request, **kwargs):
        signalled.append(request.path)

    got_request_exception.connect(receiver)
    try:
        response = lean.post(
            reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
        )
    finally:
        got_request_exception.disconnect(receiver)
    assert failing.called and recording_respond[-1] is not None
    assert response.status_code == 500 and signalled == [reverse("voting:submit", args=[token])]
    assert response["X-Content-Type-Options"] == "nosniff"  # the layers outside the failed one ran
    assert Verdict.objects.count() == 1


def test_an_inactive_user_is_left_to_django_which_asks_to_sign_in(voter, voting_task, recording_respond):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    voter.is_active = False
    voter.save()
    url = reverse("voting:submit", args=[token])
    status, body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and "Sign in to vote" in body and not took


def test_a_vote_under_a_script_prefix_takes_the_lean_path(voter, voting_task, recording_respond):
    # A deployment under a sub-path: Django's WSGI handler sets the script prefix from SCRIPT_NAME (the test
    # client's handler does not, so it is set here), reverse() then puts it in, and path_info leaves it out.
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    url = reverse("voting:submit", args=[token])
    set_script_prefix("/arena/")
    try:
        (status, body, _h, _c), took, state = _compare(
            lean, plain, url, {"overall": "left"}, recording_respond, SCRIPT_NAME="/arena", **HX
        )
    finally:
        clear_script_prefix()
    assert status == 200 and took and len(state[0]) == 1
    assert f'href="/arena{reverse("voting:task", args=[voting_task.slug])}?start=1"'.encode() in body


@pytest.fixture
def health_checks(monkeypatch):
    """Django's connection health check armed, as at the start of each request under gunicorn (with
    CONN_HEALTH_CHECKS, request_started arms it; the test client leaves that signal out): the calls of its
    SELECT 1 (`is_usable`) recorded."""
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


def test_a_lean_vote_sends_no_health_check_its_first_statement_stands_in(
    voter, voting_task, recording_respond, health_checks
):
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    connection.health_check_done = False  # armed again, as for the vote's own request
    del health_checks[:]
    response = lean.post(
        reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
    )
    assert response.status_code == 200 and recording_respond[-1] is not None
    assert health_checks == []  # one round trip fewer per vote
    assert Verdict.objects.count() == 1


def test_a_vote_left_to_django_gets_its_health_check(voter, voting_task, recording_respond, health_checks):
    # The user's read failing (a connection gone, say): Django's stack answers, and checks the connection first.
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    connection.health_check_done = False
    del health_checks[:]
    with mock.patch("arena.voting.lean_vote._user_and_vote", side_effect=OperationalError("connection gone")):
        response = lean.post(
            reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
        )
    assert recording_respond == [None]
    assert health_checks == [True]  # Django's check, before its first statement
    assert response.status_code == 200 and Verdict.objects.count() == 1


def test_the_user_is_read_by_the_votes_locking_statement(voter, voting_task, recording_respond):
    # One round trip fewer per vote: the signed-in user's row comes with the vote's lock, not before it.
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    url = reverse("voting:submit", args=[token])
    with CaptureQueriesContext(connection) as captured:
        response = lean.post(url, "overall=left", content_type=lean_vote.FORM, **HX)
    assert response.status_code == 200 and recording_respond[-1] is not None
    reads_user = [q["sql"] for q in captured.captured_queries if '"auth_user"' in q["sql"]]
    assert len(reads_user) == 1 and "FOR UPDATE OF a, n" in reads_user[0], reads_user
    assert Verdict.objects.get().voter_key == f"u:{voter.pk}"


def _prepared_statements() -> dict[str, tuple[int, int]]:
    """This connection's prepared statements: text → (generic plans, custom plans) used so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {sql: (generic, custom) for sql, generic, custom in cursor.fetchall()}


def test_the_votes_lock_and_close_are_prepared_statements(voter, voting_task, recording_respond):
    # PostgreSQL parsed and planned the lock and the close on every vote (client-side binding); now each is
    # prepared once per connection (arena.voting.vote_store._vote_cursor).
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    before = _prepared_statements()
    response = lean.post(
        reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
    )
    assert response.status_code == 200 and recording_respond[-1] is not None
    new = [sql for sql in _prepared_statements() if sql not in before]
    assert any("FOR UPDATE OF a, n" in sql and '"auth_user"' in sql for sql in new), new
    assert any(sql.startswith("WITH closed AS (UPDATE arena_assignment") for sql in new), new
    assert Verdict.objects.get().voter_key == f"u:{voter.pk}"
    assert Assignment.objects.get(token=token).state == Assignment.State.VOTED


def test_the_prepared_lock_reads_the_same_row_once_postgresql_plans_it_generically(voter, voting_task):
    # After five runs PostgreSQL may keep one generic plan for every parameter: the row must not change.
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    with transaction.atomic():
        with (
            connection.cursor() as cursor
        ):  # the generic plan from the first run on, whatever the planner prefers
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        first = vote_store.vote_lock(token)
        again = [vote_store.vote_lock(token) for _ in range(7)]
        unknown = vote_store.vote_lock("no-such-token")
    assert first is not None and first.state == Assignment.State.SERVED
    assert all(row == first for row in again) and unknown is None
    lock = [
        plans
        for sql, plans in _prepared_statements().items()
        if sql.strip().startswith("SELECT a.id") and "FOR UPDATE OF a, n" in sql  # not the serve's probe
    ]
    assert lock == [(9, 0)], lock  # every run went through the one prepared statement, generically planned


def _vote(client, token):
    return client.post(
        reverse("voting:submit", args=[token]), "overall=left", content_type=lean_vote.FORM, **HX
    )


def test_the_connection_prepares_only_while_the_vote_runs_its_statements(
    voter, voting_task, recording_respond
):
    # prepare_threshold left at 0 turned psycopg's preparing bookkeeping on for Django's own cursors too (a
    # DEALLOCATE ALL after each rollback, the last 100 statement texts kept), on pooled connections for good.
    lean, _plain = _clients(voter, csrf=False)
    connection.ensure_connection()
    before = connection.connection.prepare_threshold
    assert before is None  # Django's
    first, _ = served_tokens(lean, voting_task)
    assert _vote(lean, first).status_code == 200 and recording_respond[-1] is not None
    assert connection.connection.prepare_threshold is before
    # A second round trip, as in the first run of a worker (arena.voting.agreement_cache: the agreement figure
    # stored by the first serve is added to from then on): from then on every statement has been prepared once.
    warm, _ = served_tokens(lean, voting_task)
    assert _vote(lean, warm).status_code == 200
    prepared = _prepared_statements()
    second, _ = served_tokens(lean, voting_task)
    assert _vote(lean, second).status_code == 200 and recording_respond[-1] is not None
    assert connection.connection.prepare_threshold is before
    again = _prepared_statements()
    assert set(again) == set(prepared), set(again) ^ set(prepared)  # nothing prepared anew
    used = [sql for sql in again if sum(again[sql]) > sum(prepared[sql])]
    assert any("FOR UPDATE OF a, n" in sql for sql in used) and any(
        sql.startswith("WITH closed") for sql in used
    )
    assert Verdict.objects.count() == 3


def test_the_votes_numbers_are_sent_as_one_type_whatever_their_size(voter, voting_task):
    # psycopg keys prepared statements by their parameters' types, and sends a small int as int2, a larger one
    # as int4 or int8: each size prepared the statement once more.
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    head = "SELECT id AS head__id FROM auth_user WHERE id = %s"
    with transaction.atomic():
        for user_id in (voter.pk, 40_000, 3_000_000_000):
            vote_store.vote_lock_beside(token, head, [user_id])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parameter_types FROM pg_prepared_statements WHERE statement LIKE '%%FOR UPDATE OF a, n%%'"
        )
        assert cursor.fetchall() == [(["bigint", "text"],)]


def test_a_vote_while_queries_are_logged_runs_on_djangos_cursor_and_is_logged(
    voter, voting_task, recording_respond
):
    # A server-binding cursor keeps no statement text: Django's query log would read None.
    lean, _plain = _clients(voter, csrf=False)
    token, _ = served_tokens(lean, voting_task)
    before = _prepared_statements()
    with CaptureQueriesContext(connection) as captured:
        assert _vote(lean, token).status_code == 200 and recording_respond[-1] is not None
    logged = [q["sql"] for q in captured.captured_queries]
    assert all(isinstance(sql, str) for sql in logged), logged
    assert any("FOR UPDATE OF a, n" in sql for sql in logged) and any(
        sql.startswith("WITH closed") for sql in logged
    )
    assert _prepared_statements() == before  # nothing prepared
    assert Verdict.objects.get().voter_key == f"u:{voter.pk}"


@pytest.mark.django_db(transaction=True)
def test_a_vote_after_the_connection_was_closed_prepares_its_statements_again(
    voter, voting_task, recording_respond
):
    lean, _plain = _clients(voter, csrf=False)
    first, _ = served_tokens(lean, voting_task)
    assert _vote(lean, first).status_code == 200 and recording_respond[-1] is not None
    connection.close()  # as CONN_MAX_AGE or a failed health check does
    second, _ = served_tokens(lean, voting_task)
    assert _vote(lean, second).status_code == 200 and recording_respond[-1] is not None
    prepared = _prepared_statements()  # the new connection's
    assert any("FOR UPDATE OF a, n" in sql for sql in prepared) and any(
        sql.startswith("WITH closed") for sql in prepared
    )
    assert (
        Assignment.objects.filter(state=Assignment.State.VOTED).count() == 2 and Verdict.objects.count() == 2
    )


def _other_connection():
    """A connection of its own to the test database (autocommit), as a deploy's migration would use."""
    import psycopg

    settings_dict = connection.settings_dict
    return psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432, user=settings_dict["USER"],
        password=settings_dict["PASSWORD"], dbname=settings_dict["NAME"], autocommit=True,
    )  # fmt: skip


@pytest.fixture
def column_type_changed_later():
    """A function changing the type of arena_assignment.state from another connection; restored after."""
    with _other_connection() as other:
        original = other.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'arena_assignment'::regclass AND attname = 'state'"
        ).fetchone()[0]
    widths = iter(range(77, 100))

    def change() -> None:
        with _other_connection() as other:
            other.execute(f"ALTER TABLE arena_assignment ALTER COLUMN state TYPE varchar({next(widths)})")

    yield change
    with _other_connection() as other:
        other.execute(f"ALTER TABLE arena_assignment ALTER COLUMN state TYPE {original}")


@pytest.mark.django_db(transaction=True)
def test_a_vote_after_a_migration_changed_a_locked_columns_type_is_recorded_once(
    voter, voting_task, recording_respond, column_type_changed_later
):
    # PostgreSQL refuses a prepared statement whose result's types changed ("cached plan must not change result
    # type"): Django's vote view answered that vote with a 500; its transaction is now run again, once.
    lean, plain = _clients(voter, csrf=False)
    first, _ = served_tokens(plain, voting_task)
    assert plain.post(reverse("voting:submit", args=[first]), {"overall": "left"}).status_code == 200
    column_type_changed_later()
    second, _ = served_tokens(plain, voting_task)
    assert plain.post(reverse("voting:submit", args=[second]), {"overall": "left"}).status_code == 200
    # The lean path: its own prepared lock refused, it leaves the vote to Django's view.
    third, _ = served_tokens(lean, voting_task)
    assert _vote(lean, third).status_code == 200 and recording_respond[-1] is not None
    column_type_changed_later()
    fourth, _ = served_tokens(lean, voting_task)
    assert _vote(lean, fourth).status_code == 200
    for token in (first, second, third, fourth):
        assignment = Assignment.objects.get(token=token)
        assert assignment.state == Assignment.State.VOTED
        assert Verdict.objects.filter(battle_id=assignment.battle_id).count() == 1, token
    assert Verdict.objects.count() == 4


def test_a_session_naming_a_user_who_no_longer_exists_is_left_to_django(
    voter, voting_task, recording_respond
):
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    session = plain.session
    session["_auth_user_id"] = str(voter.pk + 10_000)
    session.save()
    url = reverse("voting:submit", args=[token])
    status, body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and "Sign in to vote" in body and not took


def test_a_user_django_would_not_let_in_is_not_counted_by_the_rate_limit(
    voter, voting_task, recording_respond, monkeypatch
):
    # The user is checked after the lock's statement but before the vote's rate limit is counted: a refusal
    # Django answers counts nothing on the lean path (and Django's path counts nothing for it either).
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    counted = mock.Mock(wraps=lean_vote.rate_limit_hit)
    monkeypatch.setattr(lean_vote, "rate_limit_hit", counted)
    voter.is_active = False
    voter.save()
    url = reverse("voting:submit", args=[token])
    status, body, took = _refused_alike(lean, plain, url, {"overall": "left"}, recording_respond, **HX)
    assert status == 403 and "Sign in to vote" in body and not took
    assert counted.call_count == 0


@pytest.mark.parametrize(
    ("limited", "ballot", "token", "status", "message"),
    [
        (True, {"overall": "middle"}, "no-such-token", 429, "Too many votes"),  # the rate limit first
        (False, {"overall": "middle"}, "no-such-token", 400, "Unknown choice 'middle'"),  # then the ballot
    ],
)
def test_refusals_come_in_djangos_order(
    voter, voting_task, recording_respond, settings, limited, ballot, token, status, message
):
    lean, plain = _clients(voter, csrf=False)
    served_tokens(plain, voting_task)
    if limited:
        factories.fresh_rate_limits(settings, per_voter=0)
    url = reverse("voting:submit", args=[token])
    with mock.patch("arena.voting.ratelimit.time") as clock:  # one instant: the message says how long to wait
        clock.time.return_value = 1_800_000_017.0
        got, body, took = _refused_alike(lean, plain, url, ballot, recording_respond, **HX)
    assert (got, took) == (status, True) and message in body


@pytest.mark.skipif(not isinstance(caches["default"], RedisCache), reason="held places are counted in Redis")
@pytest.mark.skipif(connection.vendor != "postgresql", reason="held places serve PostgreSQL's ordered pick")
def test_a_lean_vote_moves_the_serves_held_place_to_its_battles_votes(voter, voting_task, recording_respond):
    """Serving orders battles by the places each holds (arena.voting.held_places): a vote taken by the lean
    path must count there as Django's does, or the served place lingers and the vote is missed."""
    lean, plain = _clients(voter, csrf=False)
    token, _ = served_tokens(plain, voting_task)
    assignment = Assignment.objects.select_related("battle").get(token=token)
    pair = tuple(sorted((assignment.battle.contender_a_id, assignment.battle.contender_b_id)))
    fresh = timezone.now() - timedelta(minutes=django_settings.ARENA_VOTE_OPEN_MINUTES)
    assert held_places(voting_task, pair, fresh) == {assignment.battle_id: 1}  # the open serve
    lean.post(reverse("voting:submit", args=[token]), urlencode({"overall": "left"}), lean_vote.FORM, **HX)
    assert recording_respond and recording_respond[-1] is not None  # the lean path took it
    caches["default"].delete(f"vote-open:{voting_task.pk}")  # only the battle's vote count is left to tell
    assert held_places(voting_task, pair, fresh) == {assignment.battle_id: 1}
