"""In real Chromium: the recompute status box polls by itself and swaps in the new board; two ticked rows
open Compare, and the bare Compare page offers a picker; the profile picker adds and removes with clicks."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from leaderboard.models import RecomputeState
from leaderboard.services.recompute import leaderboards_recompute
from tests.browser.test_leaderboard import rated  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def test_the_page_updates_by_itself_when_a_recompute_finishes(live_server, page, rated):  # noqa: F811
    # A worker holds the recompute (as the coalescer's claim leaves the state row while it runs).
    lease = timezone.now() + datetime.timedelta(minutes=5)
    RecomputeState.objects.update_or_create(pk=1, defaults={"holder": "worker-1", "lease_until": lease})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/leaderboard/?dimension=helpfulness")
    page.wait_for_selector("#recompute-status[data-state=busy]")
    assert f"Run #{rated.pk}," in page.inner_text("main [data-testid=board-meta]")

    new = leaderboards_recompute(trigger="test")
    RecomputeState.objects.filter(pk=1).update(holder="", lease_until=None)

    # The box polls every 2 s; the swap must happen without any reload or click.
    page.wait_for_selector("#recompute-status[data-state=finished]", timeout=10_000)
    page.wait_for_function(
        f"() => document.querySelector('main [data-testid=board-meta]').innerText.includes('Run #{new.pk},')",
        timeout=10_000,
    )
    assert page.locator("main .lb-tab.current[data-dimension=helpfulness]").count() == 1
    assert f"run #{new.pk}" in page.inner_text("#recompute-status")
    assert errors == []


def test_tick_two_rows_and_compare_them(live_server, page, rated):  # noqa: F811
    page.goto(f"{live_server.url}/leaderboard/")
    page.check("main [data-testid=pick-alpha]")
    page.check("main [data-testid=pick-gamma]")
    page.click("main [data-testid=compare-picked]")

    page.wait_for_url("**/leaderboard/compare/**")
    assert "Alpha" in page.inner_text("main h1") and "Gamma" in page.inner_text("main h1")
    assert page.locator("main [data-testid=compare-table] tbody tr").count() >= 1


def test_the_bare_compare_page_offers_a_picker(live_server, page, rated):  # noqa: F811
    page.goto(f"{live_server.url}/leaderboard/compare/")
    page.select_option("main [data-testid=pick-a]", "beta")
    page.select_option("main [data-testid=pick-b]", "delta")
    page.click("main [data-testid=compare-submit]")

    page.wait_for_url("**a=beta**")
    assert "Beta" in page.inner_text("main h1") and "Delta" in page.inner_text("main h1")


def test_the_profile_picker_adds_and_removes_with_plain_clicks(live_server, page, rated):  # noqa: F811
    page.goto(f"{live_server.url}/leaderboard/")
    picker = "main [data-testid=profile]"
    checked = (
        f"() => [...document.querySelectorAll('{picker} input:checked')].map(i => i.value).sort().join()"
    )
    first = page.evaluate(checked).split(",")
    assert len(first) == 3  # the top three by default
    left_out = next(slug for slug in ("alpha", "beta", "gamma", "delta") if slug not in first)

    page.click(f"{picker} input[value={left_out}]")
    page.wait_for_url(f"**profile={left_out}**")
    page.wait_for_function(f"() => ({checked})().split(',').length === 4")
    assert sorted(page.evaluate(checked).split(",")) == sorted([*first, left_out])

    page.click(f"{picker} input[value={first[0]}]")
    page.wait_for_function(f"() => ({checked})().split(',').length === 3")
    assert sorted(page.evaluate(checked).split(",")) == sorted([*first[1:], left_out])
