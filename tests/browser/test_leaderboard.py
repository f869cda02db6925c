"""A visitor opens the leaderboard in real Chromium, switches dimension and source, and sees table and charts."""

import pytest

from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add

pytestmark = pytest.mark.browser
CHARTS = ("forest", "win-rate", "win-fraction", "battle-count", "profile")


@pytest.fixture
def rated(transactional_db, settings):
    # The live server serves static files through the finders, which know no manifest-hashed names; the
    # page needs htmx, Plotly and its script, so serve them under their plain names here.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 20
    settings.LEADERBOARD_MIN_VERDICTS = 5
    arena = arena_make(("alpha", "beta", "gamma", "delta"))
    verdicts_add(arena.battles, seed=1, strengths={"alpha": 30, "beta": 20, "gamma": 10, "delta": 0})
    verdicts_add(arena.battles[:12], seed=2, dimension="helpfulness", votes_per_battle=2)
    verdicts_add(
        arena.battles,
        source=judge_source(),
        seed=3,
        strengths={"delta": 30, "gamma": 20, "beta": 10, "alpha": 0},
    )
    return leaderboards_recompute(trigger="test")


def rows(page) -> list[str]:
    return page.locator("main [data-testid=leaderboard-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.contender)"
    )


def plotted(page) -> None:
    """Plotly drew every chart: each container became a .js-plotly-plot with its SVG."""
    for chart in CHARTS:
        page.wait_for_selector(f"main [data-testid=chart-{chart}].js-plotly-plot .main-svg", state="attached")


def test_switch_dimension_and_source_and_see_the_table_and_charts(live_server, page, rated):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/leaderboard/")

    plotted(page)
    people_overall = rows(page)
    assert people_overall[0] == "alpha" and len(people_overall) == 4
    assert page.locator("main [data-testid=chart-forest] .main-svg .point").count() >= 4

    page.click("main .lb-tab[data-dimension=helpfulness]")
    page.wait_for_url("**dimension=helpfulness**")
    page.wait_for_selector("main .lb-tab.current[data-dimension=helpfulness]")
    plotted(page)
    helpfulness = page.inner_text("main [data-testid=leaderboard-table]")
    assert "Votes" in helpfulness and rows(page)

    page.select_option("main [data-testid=source]", "judge-gpt")
    page.wait_for_url("**source=judge-gpt**")
    page.wait_for_function("() => document.querySelector('main [data-testid=source]').value === 'judge-gpt'")
    # The judge has no helpfulness verdicts: the board says so, and the overall tab shows its own order.
    notice = page.inner_text("main [data-testid=notice-no-data]")
    assert "No verdicts on Helpfulness from this source yet" in notice and "judge campaign" in notice
    page.click("main .lb-tab[data-dimension=overall]")
    page.wait_for_selector("main .lb-tab.current[data-dimension=overall]")
    page.wait_for_function("() => document.querySelector('main tbody tr')?.dataset.contender === 'delta'")
    plotted(page)
    assert rows(page)[0] == "delta" and rows(page) != people_overall
    assert "judge-gpt" in page.url and "dimension=overall" in page.url

    page.click("main th a:has-text('Contender')")
    page.wait_for_url("**sort=name**")
    assert rows(page) == sorted(people_overall)
    assert errors == []


def test_a_contender_page_links_back_and_forth(live_server, page, rated):
    page.goto(f"{live_server.url}/leaderboard/")
    page.click("main [data-testid=leaderboard-table] a:has-text('Beta')")
    page.wait_for_url("**/leaderboard/contenders/beta/**")

    assert "Beta" in page.inner_text("main h1")
    assert page.locator("main [data-testid=head-to-head] tbody tr").count() == 3
    page.click("main a:has-text('Contender page')")
    page.wait_for_url("**/contenders/beta/")
    page.click("main [data-testid=leaderboard-link]")
    page.wait_for_url("**/leaderboard/contenders/beta/")
