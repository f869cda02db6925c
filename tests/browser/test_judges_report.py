"""A visitor opens the judges overview in real Chromium: the table, the three charts, sorting, one judge's
page with its disagreement, and the battle behind it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from arena.models import Battle, Dimension
from arena.services.battles import people_source
from arena.services.verdicts import verdict_record
from tests.judges.test_import_judgments import make_mtbench, make_qlora
from tests.support import factories

pytestmark = pytest.mark.browser
CHARTS = ("position", "bias", "agreement")


@pytest.fixture
def judged(transactional_db, settings, tmp_path):
    # The live server serves static files through the finders, which know no manifest-hashed names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    factories.ensure_dimensions()
    quiet = {"stdout": io.StringIO()}
    call_command("import_judgments", str(make_qlora(tmp_path / "q")), "--format", "qlora", "--source", "gpt4-small",
                 "--source-name", "Small GPT-4 study", "--approve-new", **quiet)  # fmt: skip
    call_command("import_judgments", str(make_mtbench(tmp_path / "mt")), "--format", "mtbench", "--source", "mt-gpt4",
                 "--source-name", "MT-Bench GPT-4", "--approve-new", **quiet)  # fmt: skip
    overall = Dimension.objects.get(slug="overall")
    disputed = Battle.objects.get(prompt__prompt_set__slug="imported-gpt4-small", prompt__external_id="1")
    for voter in ("u:1", "u:2"):  # the judge gave this battle to B; people say A
        verdict_record(
            battle=disputed, dimension=overall, source=people_source(), outcome="a", voter_key=voter
        )
    return disputed


def test_judges_overview_charts_sorting_and_a_disagreement(live_server, page, judged):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/leaderboard/")
    page.click("header a:has-text('Judges')")
    page.wait_for_url("**/judges/report/")
    for chart in CHARTS:
        page.wait_for_selector(f"main [data-testid=chart-{chart}].js-plotly-plot .main-svg", state="attached")
    judges = "rows => rows.map(r => r.dataset.judge)"
    table = page.locator("main [data-testid=judges-table] tbody tr")
    assert sorted(table.evaluate_all(judges)) == ["gpt4-small-v1", "mt-gpt4-v1"]
    # Position shares: gpt4-small 0.5 consistent, mt-gpt4 1/3 (see the fixtures' comments).
    consistent = page.locator("main tr[data-judge=gpt4-small-v1] td[data-figure=consistent]")
    assert consistent.inner_text().strip() == "0.500"
    assert "n=2" in consistent.get_attribute("title")

    page.click("main [data-testid=sort-consistent]")
    page.wait_for_url("**sort=consistent**")
    assert table.evaluate_all(judges) == ["mt-gpt4-v1", "gpt4-small-v1"]
    page.click("main [data-testid=sort-consistent]")
    page.wait_for_url("**sort=-consistent**")
    assert table.evaluate_all(judges) == ["gpt4-small-v1", "mt-gpt4-v1"]

    page.click("main a:has-text('Small GPT-4 study')")
    page.wait_for_url("**/judges/report/gpt4-small/**")
    assert page.locator("main [data-testid=card-table] tr[data-figure=agreement]").count() == 1
    page.click(f"main [data-testid=disagreements] a:has-text('#{judged.pk}')")
    page.wait_for_url(f"**/judges/report/battles/{judged.pk}/")
    assert "Rayleigh scattering" in page.inner_text("main [data-testid=battle]")
    assert page.locator("main [data-testid=battle-judgments] tbody tr").count() == 2
    assert errors == []
