"""Concurrent submissions of one vote (double clicks, replays, two tabs) against a live server store one vote."""

import threading

import httpx
import pytest
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string

from arena.models import Assignment, Verdict, VoteFlag
from tests.support import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _signed_in_cookies(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    # Since Django 4.1 the CSRF cookie holds the unmasked secret, and the same secret is a valid header token.
    return {
        settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: get_random_string(32),
    }


def _post_together(url: str, cookies: dict[str, str], data: dict, n: int) -> list[httpx.Response]:
    barrier = threading.Barrier(n)
    responses: list[httpx.Response | None] = [None] * n
    headers = {"X-CSRFToken": cookies[settings.CSRF_COOKIE_NAME], "HX-Request": "true"}

    def post(i: int) -> None:
        with httpx.Client(cookies=cookies, headers=headers, timeout=20) as http:
            barrier.wait()
            responses[i] = http.post(url, data=data)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses  # type: ignore[return-value]


def test_concurrent_submissions_of_the_same_vote_store_one(live_server, settings):
    task, _ = factories.make_voting_arena()
    user = factories.make_annotator_user("alice")
    assignment = factories.serve_to(task, user)
    url = f"{live_server.url}/vote/b/{assignment.token}/"
    responses = _post_together(url, _signed_in_cookies(user), {"overall": "left"}, n=8)
    assert [r.status_code for r in responses] == [200] * 8, responses[0].text
    assert len({r.text for r in responses}) == 1
    assert Verdict.objects.count() == 1 and Assignment.objects.get().state == "voted"
    assert VoteFlag.objects.filter(kind="same_choice").count() == 0


def test_concurrent_replays_from_another_account_store_nothing(live_server, settings):
    task, _ = factories.make_voting_arena()
    assignment = factories.serve_to(task, factories.make_annotator_user("alice"))
    thief = factories.make_annotator_user("mallory")
    responses = _post_together(
        f"{live_server.url}/vote/b/{assignment.token}/", _signed_in_cookies(thief), {"overall": "right"}, n=4
    )
    assert {r.status_code for r in responses} == {403}
    assert "served to someone else" in responses[0].text
    assert not Verdict.objects.exists() and Assignment.objects.get().state == "served"
