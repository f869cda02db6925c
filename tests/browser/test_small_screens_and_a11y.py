"""Phones, desktops and assistive technology, in real Chromium.

At 390×844 (a phone) and 1366×900 (a laptop): no page scrolls sideways, the vote bar takes at most a fifth
of the screen, and the prompt and both answers start on the first screen above it. axe-core (bundled by
axe-playwright-python) finds no critical or serious violation on the home, leaderboard, contender, compare,
vote and campaign pages, in the light and the dark colour scheme.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from arena.models import Dimension, Output
from arena.services.style import style_counts
from leaderboard.services.recompute import leaderboards_recompute
from tests.judges.conftest import make_judge, start_campaign
from tests.leaderboard.arena_data import arena_make, verdicts_add
from tests.support import factories

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# "At most about a fifth of the screen" (issue 11): the bar's share of the viewport height.
BAR_SHARE = 0.2
LONG_ANSWER = """Here is a careful answer, {n}.

1. First, the facts that matter, explained in a full sentence that wraps on a phone screen.
2. Then the reasoning, step by step, with `inline code` and a [link](https://example.org/docs).

| column one | column two | column three | column four | column five | column six |
|---|---|---|---|---|---|
| a wide table | that must scroll | inside the answer | never the page | on a phone | at all |

```python
print("a long line of code that is much wider than a phone screen and must scroll inside its block")
```

A closing paragraph that repeats the point in other words, so the answer is as long as real ones are.
"""


@pytest.fixture
def site(transactional_db, settings):
    """Every page the checks visit: rated boards, a voting task with long answers, a judge campaign."""
    settings.STORAGES = {  # the live server finds static files by plain name, not by manifest
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 20
    settings.LEADERBOARD_MIN_VERDICTS = 5
    factories.fresh_rate_limits(settings)
    arena = arena_make(("alpha", "beta", "gamma", "delta"))
    verdicts_add(arena.battles, seed=1, strengths={"alpha": 30, "beta": 20, "gamma": 10, "delta": 0})
    leaderboards_recompute(trigger="test")
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=3, slug="phone-set", prefix="voted")
    for n, output in enumerate(Output.objects.filter(prompt__prompt_set=task.prompt_set), start=1):
        text = LONG_ANSWER.format(n=n)
        Output.objects.filter(pk=output.pk).update(text=text, **style_counts(text))
    task.prompt_set.vote_dimensions.set(Dimension.objects.exclude(slug="overall"))
    factories.make_user("voter")
    factories.make_user("staff", is_staff=True)
    judge = make_judge("fair", base_url="http://127.0.0.1:9/v1", name="Fair judge")
    campaign = start_campaign(arena.prompt_set, arena.contenders[:2], judge.slug)
    return {"task": task, "campaign": campaign}


def _context(browser, viewport, color_scheme="light"):
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
    context.set_default_timeout(15_000)
    return context


def _sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state("load")


def _pages(site) -> list[tuple[str, str]]:
    """(path, who): the pages people land on."""
    return [
        ("/", ""),
        ("/leaderboard/", ""),
        ("/leaderboard/contenders/alpha/", ""),
        ("/leaderboard/compare/?a=alpha&b=beta", ""),
        ("/contenders/", ""),
        ("/contenders/alpha/", ""),
        (f"/vote/t/{site['task'].slug}/?start=1", "voter"),
        (f"/judges/campaigns/{site['campaign'].pk}/", "staff"),
    ]


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


# The outermost elements that reach past the right edge of the screen (for the failure message).
_TOO_WIDE = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
  + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_page_scrolls_sideways(live_server, browser, site, viewport):
    by_user: dict[str, object] = {}
    try:
        for path, who in _pages(site):
            if who not in by_user:
                context = by_user[who] = _context(browser, viewport)
                page = context.new_page()
                if who:
                    _sign_in(page, live_server, who)
            page = by_user[who].pages[0]
            page.goto(live_server.url + path)
            page.wait_for_load_state("load")
            assert _overflow(page) <= 0, (
                f"{path} is {_overflow(page)} px wider than a {viewport['width']} px screen: "
                f"{page.evaluate(_TOO_WIDE)}"
            )
    finally:
        for context in by_user.values():
            context.close()


def _box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def _bar_share(page) -> float:
    return _box(page, "#vote-panel")["height"] / page.evaluate("window.innerHeight")


def _check_first_screen(page) -> None:
    """The prompt and both answers begin above the bar, on the first screen, in text big enough to read."""
    bar_top = _box(page, "#vote-panel")["y"]
    for selector in (".prompt .md", '.answer[data-side="left"] .md', '.answer[data-side="right"] .md'):
        box = _box(page, selector)
        # at least two lines (2 × ~24 px) of each must show above the bar
        assert box["y"] + 48 <= bar_top, (
            f"{selector} starts at {box['y']:.0f} px, the bar at {bar_top:.0f} px"
        )
        size = page.eval_on_selector(selector, "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 14, f"{selector} text is {size} px"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_vote_bar_is_compact_and_the_answers_are_on_the_first_screen(
    live_server, browser, site, viewport
):
    context = _context(browser, viewport)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "voter")
        page.goto(f"{live_server.url}/vote/t/{site['task'].slug}/?start=1")
        page.wait_for_selector('#vote-panel[data-vote-state="open"]')
        assert page.evaluate("window.scrollY") == 0
        assert _bar_share(page) <= BAR_SHARE, f"the bar takes {_bar_share(page):.0%} of the screen"
        _check_first_screen(page)
        assert _overflow(page) <= 0
        assert _serious(Axe().run(page)) == []  # the phone layout too (its answer boxes scroll)

        # the dimensions unfold on demand: the bar grows, every dimension of the prompt set is offered
        closed = _box(page, "#vote-panel")["height"]
        page.click("#more-dimensions > summary")
        assert _box(page, "#vote-panel")["height"] > closed
        rows = page.locator("#vote-panel fieldset[data-row]").evaluate_all(
            "rows => rows.map(r => r.dataset.row)"
        )
        assert set(rows) == {"helpfulness", "correctness", "conciseness", "clarity", "harmlessness"}
        page.check('#vote-panel input[name="dim-helpfulness"][value="left"]')
        page.click("#more-dimensions > summary")  # fold them away again before voting

        page.click('#vote-panel button[value="left"]')
        page.wait_for_selector('[data-testid="revealed"]')
        assert _bar_share(page) <= BAR_SHARE, f"the revealed bar takes {_bar_share(page):.0%} of the screen"
        announced = page.inner_text("#vote-announce")
        assert (
            announced.startswith("A was ") and page.get_attribute("#vote-announce", "aria-live") == "polite"
        )
        page.wait_for_function(
            "() => document.querySelector('[data-testid=total]').textContent.trim() === '1'"
        )
        assert page.get_attribute("#task-goal", "value") == "1"
        assert page.locator("label[for=task-goal]").inner_text().startswith("Task: 1 of ")
    finally:
        context.close()


def test_undo_in_the_browser_withdraws_the_vote_and_moves_on_and_keyboard_u_works(live_server, browser, site):
    context = _context(browser, DESKTOP)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "voter")
        page.goto(f"{live_server.url}/vote/t/{site['task'].slug}/?start=1")
        page.wait_for_selector('#vote-panel[data-vote-state="open"]')
        token = page.get_attribute("#vote-panel", "hx-post")
        page.keyboard.press("2")
        page.wait_for_selector('[data-testid="revealed"]')
        page.wait_for_function(
            "() => document.querySelector('[data-testid=total]').textContent.trim() === '1'"
        )
        page.keyboard.press("u")
        page.wait_for_selector('[data-testid="undone"]')
        # The undone battle is closed for this voter (they saw its names): the next one is open.
        assert page.get_attribute('#vote-panel[data-vote-state="open"]', "hx-post") != token
        assert page.inner_text('[data-testid="total"]') == "0"
        assert page.inner_text("#vote-announce").startswith("Your vote was withdrawn")
        page.keyboard.press("1")  # and the next battle takes a vote
        page.wait_for_selector('[data-testid="revealed"]')
    finally:
        context.close()


def _serious(results) -> list[str]:
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in ("critical", "serious"):
            targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_axe_finds_no_critical_or_serious_violation(live_server, browser, site, color_scheme):
    axe = Axe()
    problems: dict[str, list[str]] = {}
    by_user: dict[str, object] = {}
    try:
        for path, who in _pages(site):
            if who not in by_user:
                context = by_user[who] = _context(browser, DESKTOP, color_scheme)
                page = context.new_page()
                if who:
                    _sign_in(page, live_server, who)
            page = by_user[who].pages[0]
            page.goto(live_server.url + path)
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)  # htmx and Plotly settle
            found = _serious(axe.run(page))
            if found:
                problems[path] = found
            if path.startswith("/vote/"):  # the revealed state too
                page.click('#vote-panel button[value="tie"]')
                page.wait_for_selector('[data-testid="revealed"]')
                found = _serious(axe.run(page))
                if found:
                    problems[path + " (revealed)"] = found
    finally:
        for context in by_user.values():
            context.close()
    assert problems == {}, "\n".join(f"{path}: {found}" for path, found in problems.items())


def test_the_undo_button_goes_when_its_window_closes(live_server, browser, site, settings):
    settings.ARENA_VOTE_UNDO_SECONDS = 1
    context = _context(browser, DESKTOP)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "voter")
        page.goto(f"{live_server.url}/vote/t/{site['task'].slug}/?start=1")
        page.wait_for_selector('#vote-panel[data-vote-state="open"]')
        page.keyboard.press("3")
        page.wait_for_selector("#undo-vote", state="visible")
        page.wait_for_selector("#undo-vote", state="hidden", timeout=5_000)
        page.keyboard.press("u")  # nothing to press any more: the vote stands
        page.wait_for_timeout(300)
        assert page.locator('[data-testid="revealed"]').count() == 1
    finally:
        context.close()
