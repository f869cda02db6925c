"""Live battles in real Chromium, under the real ASGI server, against the streaming loopback stub."""

from __future__ import annotations

import time

import pytest

from arena.models import Battle, Prompt, Verdict
from live.models import LiveBattle
from tests.live.conftest import make_live_contenders
from tests.support import factories
from tests.support.asgi_server import asgi_server  # noqa: F401  (fixture)
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.browser

STREAMING_BEFORE_DONE = """() => {
  const left = document.querySelector('#live-left .stream-text');
  const section = document.getElementById('live-battle');
  return left && left.textContent.length > 0 && section.dataset.state === 'streaming';
}"""
READY = "() => document.getElementById('live-battle').dataset.state === 'ready'"


@pytest.fixture
def arena(asgi_server, settings):  # noqa: F811  (the fixture imported above)
    factories.fresh_rate_limits(settings)
    with OpenAIStub(script="long", token_interval=0.05) as stub:
        contenders = make_live_contenders(stub.base_url)
        factories.make_user("fighter")
        yield asgi_server, stub, contenders


def _sign_in(page, server) -> None:
    page.goto(f"{server.url}/accounts/login/?next=/arena/")
    page.fill("#id_username", "fighter")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_selector('[data-testid="new-round"]')


def _ask(page, text: str) -> None:
    page.fill("#live-prompt", text)
    page.click('[data-testid="new-round"] button[type=submit]')


def test_a_person_battles_live_streams_follows_up_votes_and_sees_the_names(arena, page):
    server, stub, contenders = arena
    _sign_in(page, server)
    _ask(page, "Why is the sea salty?")
    page.wait_for_function(STREAMING_BEFORE_DONE)  # pieces are on screen while the answers still stream
    assert page.is_hidden('[data-testid="vote-form"]')
    page.wait_for_function(READY)
    for side in ("left", "right"):
        assert "Why is the sea salty?" in page.inner_text(f'[data-testid="answer-{side}"] >> nth=-1')
    body = page.inner_text("body")
    assert all(c.name not in body for c in contenders)  # blind until the vote

    page.fill("#live-follow-up-text", "And the Dead Sea?")
    page.click('[data-testid="follow-up-form"] button[type=submit]')
    page.wait_for_function(READY)
    assert "And the Dead Sea?" in page.inner_text('[data-testid="answer-left"] >> nth=-1')
    assert stub.stats()["streams_completed"] == 4
    follow_up = stub.requests[-1].body["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]

    page.click('[data-testid="vote-form"] button[value="left"]')
    page.wait_for_selector('[data-testid="revealed"]')
    battle = LiveBattle.objects.select_related("contender_a", "contender_b").get()
    left = battle.contender_a if battle.left_is_a else battle.contender_b
    assert page.inner_text('[data-testid="reveal-left"] >> nth=0') == left.name
    assert "You chose A is better" in page.inner_text('[data-testid="revealed"]')
    prompt = Prompt.objects.get(category="live")
    assert prompt.later_turns == ["And the Dead Sea?"]
    verdict = Verdict.objects.get(dimension__slug="overall")
    assert verdict.battle == Battle.objects.get() and not verdict.excluded
    page.click('[data-testid="revealed"] [data-testid="new-round-link"]')
    page.wait_for_selector('[data-testid="new-round"]')


def test_a_model_failing_mid_stream_shows_a_failed_side_and_offers_regenerate(arena, page):
    server, stub, _ = arena
    _sign_in(page, server)
    stub.inject({"kind": "midstream_error", "after_tokens": 5})
    _ask(page, "Explain tides.")
    page.wait_for_function("() => document.getElementById('live-battle').dataset.state === 'failed'")
    failed = [s for s in ("left", "right") if page.is_visible(f'[data-testid="failed-{s}"]')]
    assert len(failed) == 1
    assert "will not count" in page.inner_text(f'[data-testid="failed-{failed[0]}"]')
    assert page.is_hidden('[data-testid="vote-form"]')
    page.click('[data-testid="regenerate"]')
    page.wait_for_function(READY)
    assert LiveBattle.objects.get().regenerations == 1
    assert not Verdict.objects.exists()


def test_closing_the_tab_mid_stream_cancels_the_calls_and_counts_nothing(arena, browser):
    server, stub, _ = arena
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, server)
    _ask(page, "Write a long poem.")
    page.wait_for_function(STREAMING_BEFORE_DONE)
    context.close()  # the tab, and its connection, go away
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        stub.stats()["streams_abandoned"] < 2 or LiveBattle.objects.get().state == LiveBattle.State.STREAMING
    ):
        time.sleep(0.05)
    assert stub.stats()["streams_abandoned"] == 2 and stub.stats()["streams_completed"] == 0
    assert LiveBattle.objects.get().state == LiveBattle.State.CANCELLED
    assert not Verdict.objects.exists() and not Prompt.objects.filter(category="live").exists()
