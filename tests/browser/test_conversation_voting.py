"""In real Chromium, a two-turn battle on the voting page: each turn's prompt, then the two replies to it side
by side, turn 1 above turn 2; names hidden until the vote, revealed after it. On a phone the replies stack."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client

from arena.models import Output
from tests.support import factories
from tests.support.conversations import import_mt_bench

pytestmark = pytest.mark.browser

OPEN_PANEL = '#vote-panel[data-vote-state="open"]'


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def _two_turn_task():
    prompt_set, contenders = import_mt_bench()
    Output.objects.exclude(prompt__external_id="101").delete()
    prompt_set.prompts.exclude(external_id="101").delete()
    return factories.make_voting_task(prompt_set, slug="mt"), contenders


def _box(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"
    return box


def test_the_voting_page_shows_a_two_turn_conversation_side_by_side(live_server, page, transactional_db):
    task, contenders = _two_turn_task()
    _sign_in(page, live_server, factories.make_user("reader"))
    page.goto(f"{live_server.url}/vote/t/{task.slug}/?start=1")
    page.wait_for_selector(OPEN_PANEL)
    assert page.locator(".conversation.multi-turn .turn").count() == 2
    turn_1, turn_2 = '.turn[data-turn="turn-1"]', '.turn[data-turn="turn-2"]'
    assert "Write a two-sentence invitation" in page.inner_text(f"{turn_1} .prompt .md")
    assert "Now rewrite it for a noticeboard" in page.inner_text(f"{turn_2} .prompt .md")
    replies_2 = page.inner_text(f"{turn_2} .answers")
    assert "JOIN US FOR A BOOK SWAP" in replies_2 and "YOU ARE INVITED TO A BOOK SWAP" in replies_2
    for turn in (turn_1, turn_2):
        left, right = (
            _box(page, f'{turn} .answer[data-side="left"]'),
            _box(page, f'{turn} .answer[data-side="right"]'),
        )
        assert abs(left["y"] - right["y"]) < 2 and left["x"] + left["width"] <= right["x"]  # side by side
        prompt = _box(page, f"{turn} .prompt")
        assert prompt["y"] + prompt["height"] <= left["y"]  # the turn's prompt above its replies
    assert _box(page, f'{turn_1} .answer[data-side="left"]')["y"] < _box(page, f"{turn_2} .prompt")["y"]
    names = [c.name for c in contenders]
    assert not any(name in page.inner_text("main") for name in names)  # blind before the vote

    page.keyboard.press("1")
    page.wait_for_selector('[data-testid="revealed"]')
    assert {page.inner_text("#name-left"), page.inner_text("#name-right")} == set(names)


def test_on_a_phone_the_replies_of_each_turn_stack(live_server, browser, transactional_db):
    task, _ = _two_turn_task()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        _sign_in(page, live_server, factories.make_user("phone"))
        page.goto(f"{live_server.url}/vote/t/{task.slug}/?start=1")
        page.wait_for_selector(OPEN_PANEL)
        turn = '.turn[data-turn="turn-2"]'
        left, right = (
            _box(page, f'{turn} .answer[data-side="left"]'),
            _box(page, f'{turn} .answer[data-side="right"]'),
        )
        assert left["y"] + left["height"] <= right["y"]
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
