"""The lean vote and serve paths under ASGI (arena.voting.lean_asgi) against Django's own ASGI handler.

Each request is sent twice as ASGI messages, inside a savepoint rolled back after each: once to the handler
arena.asgi serves (`VoteRoutedASGIHandler`) and once to Django's plain `ASGIHandler`. Status, body, headers
and cookies must be equal, and the database the same after each. In process, driven from the test's thread,
the handlers' sync code runs in that thread (asgiref's rule inside `async_to_sync`), on the test's
connection; the signals' connection handling is left out there, as Django's test client leaves it out.
The last tests run the real entry point under uvicorn instead, where each request's sync code has a
thread of its own: there the lean path must run in the thread of its request's signals, and give its
connection back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from types import SimpleNamespace
from urllib.parse import urlencode

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.test import Client
from django.urls import reverse

from arena.models import Assignment, Verdict
from arena.services.battles import people_source
from arena.voting import selection, serving
from arena.voting.lean_asgi import VoteRoutedASGIHandler
from arena.voting.lean_serve import LeanServe
from arena.voting.lean_vote import FORM, LeanVote
from tests.support import factories
from tests.support.asgi_server import asgi_server  # noqa: F401  (fixture)
from tests.support.voting_pages import served_tokens

HX = {"hx-request": "true"}
FORM_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)
    people_source()


@pytest.fixture
def taken(monkeypatch) -> list:
    """What each lean path's respond returned when offered a request (None: left to Django)."""
    results: list = []
    for path in (LeanVote, LeanServe):
        real = path.respond

        def respond(self, request, key, real=real):
            result = real(self, request, key)
            results.append((type(self).__name__, threading.get_ident(), result))
            return result

        monkeypatch.setattr(path, "respond", respond)
    return results


def _call(app, method: str, url: str, *, body: bytes = b"", headers: dict[str, str]) -> tuple:
    """`app`'s answer to one request sent as ASGI messages: (status, body, headers, cookies), the headers
    sorted, Set-Cookie parsed into (name, value, attributes but `expires`, the clock's second)."""
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def run() -> None:
        arrived = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            if arrived:
                return arrived.pop()
            await asyncio.Future()  # no disconnect: the handler cancels this once it has answered

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)

    # The signals' connection handling off while the handler runs on the test's connection, as Django's
    # test client turns it off (closing the connection would end the test's transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        async_to_sync(run)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    start = sent[0]
    cookies, others = [], []
    for name, value in start["headers"]:
        if name.lower() == b"set-cookie":
            jar: SimpleCookie = SimpleCookie(value.decode())
            cookies += [
                (k, m.value, {a: v for a, v in m.items() if a != "expires" and v}) for k, m in jar.items()
            ]
        else:
            others.append((name.decode().lower(), value.decode()))
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], content, sorted(others), sorted(cookies)


def _state() -> tuple:
    return (
        sorted(Verdict.objects.values_list("dimension__slug", "outcome", "voter_key")),
        sorted(Assignment.objects.values_list("token", "state", "outcome", "battle_id", "left_is_a")),
    )


def _compare(method: str, url: str, *, body: bytes = b"", headers: dict[str, str]) -> tuple[tuple, tuple]:
    """Send the same request to both handlers; assert equal answers and database states. (answer, state)"""
    answers, states = [], []
    for app in (VoteRoutedASGIHandler(), ASGIHandler()):
        with transaction.atomic():
            answers.append(_call(app, method, url, body=body, headers=headers))
            states.append(_state())
            transaction.set_rollback(True)
    assert answers[0] == answers[1]
    assert states[0] == states[1]
    return answers[0], states[0]


def _signed_in(user) -> tuple[Client, dict[str, str]]:
    """A browser signed in as `user` (Django's test client, for the page loads), and its Cookie header."""
    client = Client()
    client.force_login(user)
    return client, _cookie_header(client)


def _cookie_header(client: Client) -> dict[str, str]:
    return {"cookie": "; ".join(f"{k}={m.value}" for k, m in client.cookies.items())}


def _vote_headers(client: Client, csrf: str | None) -> dict[str, str]:
    headers = {**HX, **_cookie_header(client), "content-type": FORM, "host": "testserver"}
    if csrf is not None:
        headers["x-csrftoken"] = csrf
    return headers


def _post(url: str, ballot: dict, headers: dict[str, str]) -> tuple[tuple, tuple]:
    body = urlencode(ballot).encode()
    return _compare("POST", url, body=body, headers={**headers, "content-length": str(len(body))})


def _lean_answers(taken: list) -> list:
    return [result is not None for _name, _thread, result in taken]


def test_a_vote_under_asgi_takes_the_lean_path_and_answers_as_django(voter, voting_task, taken):
    client, _ = _signed_in(voter)
    token, csrf = served_tokens(client, voting_task)
    url = reverse("voting:submit", args=[token])

    (status, body, headers, _cookies), state = _post(url, {"overall": "left"}, _vote_headers(client, csrf))

    assert _lean_answers(taken) == [True]
    assert status == 200 and body
    assert ("content-security-policy" in dict(headers)) and ("x-frame-options" in dict(headers))
    assert [row[1] for row in state[0]] and state[1][0][1] == "voted"


def test_a_vote_without_its_csrf_token_is_refused_by_django_and_changes_nothing(voter, voting_task, taken):
    client, _ = _signed_in(voter)
    token, _csrf = served_tokens(client, voting_task)
    url = reverse("voting:submit", args=[token])

    (status, _body, _headers, _cookies), state = _post(url, {"overall": "left"}, _vote_headers(client, None))

    assert status == 403
    assert _lean_answers(taken) == [False]  # offered, left to Django before anything was counted
    assert state[0] == [] and state[1][0][1] == "served"


def test_a_bad_ballot_gets_a_clear_error_and_nothing_is_written(voter, voting_task, taken):
    client, _ = _signed_in(voter)
    token, csrf = served_tokens(client, voting_task)
    url = reverse("voting:submit", args=[token])

    (status, body, _headers, _cookies), state = _post(
        url, {"overall": "sideways"}, _vote_headers(client, csrf)
    )

    assert _lean_answers(taken) == [True]  # answered by the lean path, as Django answers it
    assert status == 400 and body
    assert state[0] == [] and state[1][0][1] == "served"


def test_a_signed_out_vote_is_left_to_django(voter, voting_task, taken):
    client, _ = _signed_in(voter)
    token, csrf = served_tokens(client, voting_task)
    del client.cookies[django_settings.SESSION_COOKIE_NAME]  # signed out, the CSRF cookie kept
    url = reverse("voting:submit", args=[token])

    (status, _body, _headers, _cookies), state = _post(url, {"overall": "left"}, _vote_headers(client, csrf))

    assert _lean_answers(taken) == [False]
    assert status != 200
    assert state[0] == []


def test_with_debug_on_no_request_is_offered_to_a_lean_path(voter, voting_task, taken, settings):
    client, _ = _signed_in(voter)
    token, csrf = served_tokens(client, voting_task)
    settings.DEBUG = True
    url = reverse("voting:submit", args=[token])

    (status, _body, _headers, _cookies), state = _post(url, {"overall": "left"}, _vote_headers(client, csrf))

    assert taken == []
    assert status == 200 and state[1][0][1] == "voted"


def test_other_requests_go_to_django_untouched(voter, voting_task, taken):
    client, _ = _signed_in(voter)
    token, _csrf = served_tokens(client, voting_task)
    headers = {**HX, **_cookie_header(client), "host": "testserver"}

    (status, _body, _headers, _cookies), state = _compare(
        "GET", reverse("voting:submit", args=[token]), headers=headers
    )
    (health, _body, _headers, _cookies), _state_after = _compare("GET", "/healthz", headers=headers)

    assert taken == []  # never offered to a lean path
    assert status == 405 and health == 200
    assert state[1][0][1] == "served"


def test_a_serve_under_asgi_takes_the_lean_path_and_answers_as_django(voter, voting_task, taken, monkeypatch):
    client, _ = _signed_in(voter)
    token, _csrf = served_tokens(client, voting_task)  # the first visit (Django's: it makes the annotator)
    client.post(
        reverse("voting:submit", args=[token]), "overall=left", content_type=FORM, HTTP_HX_REQUEST="true"
    )
    url = reverse("voting:task", args=[voting_task.slug]) + "?start=1"
    headers = {**HX, **_cookie_header(client), "host": "testserver"}
    # The serve's chances fixed for both runs, as test_voting_lean_serve fixes them.
    answers = []
    for app in (VoteRoutedASGIHandler(), ASGIHandler()):
        _fix_chances(monkeypatch, voting_task)
        with transaction.atomic():
            status, body, head, cookies = _call(app, "GET", url, headers=headers)
            verdicts, assignments = _state()
            # Which of the pair's battles is not compared: the answers shown are (the body).
            served = sorted((t, st, o) for t, st, o, _battle, _left in assignments)
            answers.append(
                (
                    status,
                    FORM_TOKEN.sub("TOKEN", body.decode()),
                    head,
                    [c[0] for c in cookies],
                    verdicts,
                    served,
                )
            )
            transaction.set_rollback(True)

    assert answers[0] == answers[1]
    assert answers[0][0] == 200 and "/vote/b/" in answers[0][1]
    assert [name for name, _thread, result in taken if result is not None] == ["LeanServe"]


def _fix_chances(monkeypatch, task) -> None:
    """The serve's chances fixed, as test_voting_lean_serve fixes them, and the other run's place freed."""
    monkeypatch.setattr(selection, "random", SimpleNamespace(Random=lambda: random.Random(7)))
    monkeypatch.setattr(serving, "secrets", SimpleNamespace(randbelow=lambda n: 0))
    monkeypatch.setattr(serving, "new_token", lambda: "fixed-asgi-token")
    caches["default"].delete(f"vote-open:{task.pk}")


# --- the real entry point under uvicorn: threads and connections as deployed ---------------------------


@contextlib.contextmanager
def signal_threads() -> Iterator[list]:
    """(signal, thread, whether that thread's connection is closed) for each request signal, recorded after
    Django's own receivers ran (connected last: call it after any use of Django's test client, which
    connects `close_old_connections` again after each request)."""
    seen: list = []

    def started(**kwargs):
        seen.append(("started", threading.get_ident(), None))

    def finished(**kwargs):
        seen.append(("finished", threading.get_ident(), connections[DEFAULT_DB_ALIAS].connection is None))

    request_started.connect(started, weak=False)
    request_finished.connect(finished, weak=False)
    try:
        yield seen
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)


@pytest.mark.django_db(transaction=True)
def test_deployed_a_round_trip_runs_each_lean_path_in_its_requests_thread_and_closes_its_connection(
    asgi_server,  # noqa: F811
    voter,
    voting_task,
    taken,
):
    client, _ = _signed_in(voter)
    served_tokens(client, voting_task)  # the first visit makes the annotator; the next serve is lean
    url = reverse("voting:task", args=[voting_task.slug]) + "?start=1"
    with httpx.Client(base_url=asgi_server.url, headers=HX) as browser, signal_threads() as seen:
        browser.cookies.update({k: m.value for k, m in client.cookies.items()})
        served = browser.get(url)
        token = re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', served.text)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', served.text)
        assert served.status_code == 200 and token and csrf, served.text[:300]
        voted = browser.post(
            reverse("voting:submit", args=[token.group(1)]),
            content=b"overall=left",
            headers={"content-type": FORM, "x-csrftoken": csrf.group(1)},
        )

        # The handler sends the response, then closes it (request_finished): the client may be told first.
        deadline = time.monotonic() + 10
        while sum(kind == "finished" for kind, _t, _c in seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    assert voted.status_code == 200, voted.text[:300]
    assert [(name, result is not None) for name, _t, result in taken] == [
        ("LeanServe", True),
        ("LeanVote", True),
    ]
    assert Verdict.objects.filter(voter_key=f"u:{voter.pk}").count() == 1
    started = [t for kind, t, _ in seen if kind == "started"]
    finished = [(t, closed) for kind, t, closed in seen if kind == "finished"]
    # Each request: its signals and its lean path in one thread (not the test's), the connection closed after.
    assert [t for _n, t, _r in taken] == started == [t for t, _c in finished]
    assert threading.get_ident() not in started
    assert all(closed for _t, closed in finished)


# --- with the connection pool compose deploys (DB_POOL_MAX_SIZE) -----------------------------------------


@pytest.fixture
def small_pool(transactional_db):
    """The server's database connections from a psycopg pool of two; returns a reader of its stats."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    connections[DEFAULT_DB_ALIAS].close()
    options = connections.settings[DEFAULT_DB_ALIAS].setdefault("OPTIONS", {})
    options["pool"] = {"min_size": 1, "max_size": 2, "timeout": 3}
    yield lambda: DatabaseWrapper._connection_pools[DEFAULT_DB_ALIAS].get_stats()
    connections[DEFAULT_DB_ALIAS].close()
    options.pop("pool", None)
    pool = DatabaseWrapper._connection_pools.pop(DEFAULT_DB_ALIAS, None)
    if pool is not None:
        pool.close()


def _people_signed_in(task, n: int) -> list[dict[str, str]]:
    """Cookies of `n` annotators of `task` who were served once (the next serve is lean)."""
    cookies = []
    for i in range(n):
        client = Client()
        client.force_login(factories.make_annotator_user(f"pooled-{i}"))
        served_tokens(client, task)
        cookies.append({k: m.value for k, m in client.cookies.items()})
    connections[DEFAULT_DB_ALIAS].close()  # the test's own pooled connection back before the server counts
    return cookies


def _round_trips(base_url: str, cookies: dict[str, str], slug: str, n: int) -> list[tuple[int, int]]:
    answers = []
    with httpx.Client(base_url=base_url, headers=HX, timeout=20) as browser:
        browser.cookies.update(cookies)
        for _ in range(n):
            served = browser.get(reverse("voting:task", args=[slug]) + "?start=1")
            token = re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', served.text)
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', served.text)
            if not (token and csrf):
                answers.append((served.status_code, 0))
                break
            voted = browser.post(
                reverse("voting:submit", args=[token.group(1)]),
                content=b"overall=left",
                headers={"content-type": FORM, "x-csrftoken": csrf.group(1)},
            )
            answers.append((served.status_code, voted.status_code))
    return answers


def _pool_settled(stats) -> dict:
    """The pool's stats once every connection is back (request_finished runs after the client is answered)."""
    deadline = time.monotonic() + 10
    while (found := stats()).get("pool_available", 0) != found.get(
        "pool_size"
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.mark.django_db(transaction=True)
def test_deployed_with_a_small_pool_concurrent_round_trips_all_answer_and_give_every_connection_back(
    small_pool,
    asgi_server,  # noqa: F811
    voting_task,
    taken,
):
    people = _people_signed_in(voting_task, 8)
    with ThreadPoolExecutor(8) as browsers:
        answers = list(browsers.map(lambda c: _round_trips(asgi_server.url, c, voting_task.slug, 2), people))
    stats = _pool_settled(small_pool)
    assert all(answer == (200, 200) for person in answers for answer in person), answers
    assert sum(result is not None for _n, _t, result in taken) == 32  # every serve and vote took a lean path
    assert stats.get("pool_available") == stats.get("pool_size") == 2, stats
    assert Verdict.objects.count() == 16


@pytest.mark.django_db(transaction=True)
def test_deployed_an_exception_escaping_a_lean_path_is_djangos_500_and_its_connection_goes_back(
    small_pool,
    asgi_server,  # noqa: F811
    voting_task,
    monkeypatch,
):
    cookies = _people_signed_in(voting_task, 1)[0]

    def broken(self, request, response):
        raise RuntimeError("escaped the lean path")

    monkeypatch.setattr(LeanServe, "_finished", broken)
    with httpx.Client(base_url=asgi_server.url, headers=HX, timeout=20) as browser:
        browser.cookies.update(cookies)
        answers = [
            browser.get(reverse("voting:task", args=[voting_task.slug]) + "?start=1") for _ in range(3)
        ]
    stats = _pool_settled(small_pool)
    # Django's 500 (its handler's page, not the server's bare text), three times: the pool of two is not
    # used up by the first two failures.
    assert [a.status_code for a in answers] == [500, 500, 500]
    assert all("text/html" in a.headers["content-type"] for a in answers)
    assert stats.get("pool_available") == stats.get("pool_size"), stats
    assert httpx.get(asgi_server.url + "/healthz", timeout=20).status_code == 200
