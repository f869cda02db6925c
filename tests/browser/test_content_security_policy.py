"""Every main page is served with the Content-Security-Policy and, in real Chromium, breaks none of it.

The policy allows scripts and styles from our own origin only: no inline script, no style="" attribute, no
<style> block. A page that needed one would raise a `securitypolicyviolation` event (recorded by a script
Playwright injects before any page script runs) and a console error; both must stay empty, on every page,
after htmx swaps and after Plotly drew the leaderboard's charts.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client

from leaderboard.services.recompute import leaderboards_recompute
from tests.judges.conftest import make_judge, start_campaign
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add
from tests.support import factories

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def arena_pages(transactional_db, settings):
    """A rated arena, a voting task, a judge campaign, and a signed-in staff member: every main page has data."""
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 5
    settings.LEADERBOARD_MIN_VERDICTS = 5
    factories.fresh_rate_limits(settings)
    arena = arena_make(("alpha", "beta", "gamma"))
    verdicts_add(arena.battles, seed=1)
    verdicts_add(arena.battles, source=judge_source("judge-gpt", "GPT judge"), seed=2)  # the judges' report
    leaderboards_recompute(trigger="test")
    task = factories.make_voting_task(arena.prompt_set, arena.contenders, slug="people")
    arena.prompt_set.prompts.update(reference_answer="the reference")  # the offline judge compares with it
    make_judge("lexi", provider="lexical", model="contains", sees_reference=True)
    campaign = start_campaign(arena.prompt_set, arena.contenders[:2], "lexi")
    staff = factories.make_user("staff", is_staff=True, is_superuser=True)
    return {"arena": arena, "task": task, "campaign": campaign, "staff": staff}


def _sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def _pages(data) -> list[str]:
    alpha = data["arena"].contenders[0].slug
    beta = data["arena"].contenders[1].slug
    return [
        "/",
        "/leaderboard/",
        f"/leaderboard/contenders/{alpha}/",
        f"/leaderboard/compare/?a={alpha}&b={beta}",
        "/contenders/",
        f"/contenders/{alpha}/",
        f"/contenders/{alpha}/upload/",
        "/contenders/new/",
        "/me/contenders/",
        "/me/tokens/",
        "/vote/",
        f"/vote/t/{data['task'].slug}/",
        "/vote/staff/",
        "/judges/",
        "/judges/campaigns/new/",
        f"/judges/campaigns/{data['campaign'].pk}/",
        "/judges/configs/",
        "/judges/report/",
        "/judges/report/judge-gpt/",
        "/accounts/password_reset/",
        "/api/docs",
        "/admin/",
        "/admin/arena/contender/",
    ]


def test_no_main_page_breaks_the_content_security_policy(live_server, page, arena_pages):
    console_errors: list[str] = []
    page.on(
        "console",
        lambda msg: console_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.add_init_script(RECORD_VIOLATIONS)
    _sign_in(page, live_server, arena_pages["staff"])
    visited, charted = [], 0
    for path in _pages(arena_pages):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, (path, response.status)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        page.wait_for_load_state("load")
        charted += page.locator("main .js-chart").count()
        if page.locator("main .js-chart").count():  # Plotly drew every chart before violations are read
            for chart in page.locator("main .js-chart").all():
                chart.locator(".main-svg").first.wait_for(state="attached")
        if path == "/leaderboard/":
            page.click("main .lb-tab[data-dimension=helpfulness]")  # an htmx swap, charts drawn again
            page.wait_for_url("**dimension=helpfulness**")
        if path.startswith("/vote/t/"):
            page.wait_for_selector('[data-testid="intro"]')
            page.keyboard.press("Enter")  # from the guidelines to the first battle
            page.wait_for_selector('#vote-panel[data-vote-state="open"]')
            page.wait_for_load_state("load")
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], (path, violations)
        visited.append(path)
    assert console_errors == []
    assert len(visited) == len(_pages(arena_pages))
    assert charted >= 5  # the leaderboard's charts at least: Plotly really ran under the policy
