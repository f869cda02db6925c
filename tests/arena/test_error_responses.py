"""The one edge for errors (arena.error_responses): each kind of domain error becomes the same status on a page
and in the API, the same body shape the API always had, and one line from a management command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from django_htmx.middleware import HtmxMiddleware
from ninja import NinjaAPI
from ninja.testing import TestClient

from arena.api.errors import install_error_handlers
from arena.error_responses import command_error, error_json, error_page, status_for
from arena.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Throttled, TooLarge, Unavailable
from arena.models import Assignment, PromptSet, Verdict
from arena.staff import staff_check
from tests.support import factories

ROOT = Path(__file__).resolve().parents[2]
HX = {"HTTP_HX_REQUEST": "true"}
KINDS = [
    (Invalid("Unknown dimension 'x': choose one of overall.", field="dimension"), 400),
    (TooLarge("big.jsonl: the file is 30 bytes, over the upload limit of 20 bytes."), 413),
    (NotFound("No contender with slug 'nope'.", field="contender"), 404),
    (Forbidden("Judge campaigns are for staff."), 403),
    (Conflict("You skipped this battle, so it takes no vote any more."), 409),
    (Throttled("Too many votes: wait a minute.", retry_after=42), 429),
    (Unavailable("The confirmation mail could not be sent; try again later."), 503),
    (DomainError("A bare domain error is bad input."), 400),
]
IDS = [type(error).__name__ for error, _ in KINDS]


def _page_request(path: str = "/", **headers):
    request = RequestFactory().get(path, **headers)
    request.resolver_match = resolve(path)
    HtmxMiddleware(lambda request: HttpResponse())(request)  # sets request.htmx, as on every request
    return request


@pytest.mark.parametrize(("error", "status"), KINDS, ids=IDS)
def test_each_kind_is_one_status_on_a_page_in_json_and_one_line_on_the_command_line(db, error, status):
    assert status_for(error) == status

    page = error_page(_page_request(), error)
    assert page.status_code == status
    html = page.content.decode()
    assert error.message.replace("'", "&#x27;") in html and 'href="/"' in html  # the message and a way back

    body = json.loads(error_json(error).content)
    assert body == {"error": error.message, "field": error.field}

    line = str(command_error(error, after="Nothing was imported."))
    assert line == f"{error.message} Nothing was imported." and "\n" not in line


@pytest.mark.parametrize(("error", "status"), KINDS, ids=IDS)
def test_the_api_answers_each_kind_with_its_status_and_the_documented_body(error, status):
    api = NinjaAPI(urls_namespace=f"errors-test-{type(error).__name__}")
    install_error_handlers(api)

    @api.get("/fail")
    def fail(request):
        raise error

    reply = TestClient(api).get("/fail")
    assert reply.status_code == status
    assert reply.json() == {"error": error.message, "field": error.field}
    assert reply.headers.get("Retry-After") == ("42" if isinstance(error, Throttled) else None)


def test_several_problems_are_listed_in_the_api_body():
    error = Invalid("2 problems:\nline 1: bad\nline 2: worse", problems=["line 1: bad", "line 2: worse"])
    assert json.loads(error_json(error).content)["problems"] == ["line 1: bad", "line 2: worse"]


def test_a_throttled_page_says_when_to_come_back(db):
    page = error_page(_page_request(), Throttled("Too many votes: wait a minute.", retry_after=42))
    assert page.status_code == 429 and page["Retry-After"] == "42"


def test_each_part_of_the_site_frames_the_error_its_own_way(db):
    error = NotFound("Unknown battle: load the next one.")
    vote_page = error_page(_page_request("/vote/"), error).content.decode()
    assert "<h1>Vote not taken</h1>" in vote_page and 'href="/vote/"' in vote_page

    vote_htmx = error_page(_page_request("/vote/", **HX), error)
    assert vote_htmx["Content-Type"].startswith("text/plain") and vote_htmx.content.decode() == error.message

    board_htmx = error_page(_page_request("/leaderboard/", **HX), error).content.decode()
    assert board_htmx.strip().startswith('<div id="board">') and "<h1>" not in board_htmx

    judges_page = error_page(_page_request("/judges/report/"), error).content.decode()
    assert "<h1>Judging the judges</h1>" in judges_page


def test_a_service_error_in_a_page_view_is_rendered_by_the_middleware(client, alice):
    client.force_login(alice)
    page = client.post("/vote/b/no-such-token/", {"overall": "left"})
    assert page.status_code == 404 and "Unknown battle" in page.content.decode()
    assert "<h1>Vote not taken</h1>" in page.content.decode()
    fragment = client.post("/vote/b/no-such-token/", {"overall": "left"}, **HX)
    assert fragment.status_code == 404 and fragment.content.decode().startswith("Unknown battle")
    assert not Verdict.objects.exists() and not Assignment.objects.exists()


def test_a_service_error_in_an_api_view_keeps_the_api_shape(db, client):
    reply = client.get("/api/prompt-sets/no-such-set/prompts")
    assert reply.status_code == 404
    assert reply.json() == {"error": "No prompt set with slug 'no-such-set'.", "field": "prompt_set"}


def test_a_command_turns_a_domain_error_into_a_command_error(db, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "q1", "text": ""}\n')
    with pytest.raises(CommandError, match="field 'text' is empty"):
        call_command("import_prompts", str(path), prompt_set="quiz")
    assert not PromptSet.objects.filter(slug="quiz").exists()


def test_manage_py_prints_a_domain_error_on_one_line_and_exits_non_zero(db, tmp_path):
    database = connection.settings_dict  # the test database: its tables exist, the prompt set does not
    url = f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {**os.environ, "DEBUG": "1", "ARENA_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "export_prompts", "no-such-set"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: No prompt set with slug 'no-such-set'.")


def test_the_staff_check_refuses_everyone_but_staff_with_what_was_refused(db):
    staff_check(factories.make_user("boss", is_staff=True), refusal="Only staff recompute.")
    for who in (AnonymousUser(), None, factories.make_user("someone")):
        with pytest.raises(Forbidden, match="Only staff recompute."):
            staff_check(who, refusal="Only staff recompute.")
