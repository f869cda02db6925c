"""Staff start a judge campaign from the page and watch it finish, in real Chromium, with a real worker."""

from __future__ import annotations

import pytest

from judges.models import Campaign
from tests.judges.conftest import make_arena, make_judge
from tests.support import factories
from tests.support.openai_stub import OpenAIStub

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    # The live server serves /static/ from the finders, which know no hashed manifest names: plain names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_estimate_start_and_watch_a_campaign_finish_without_reloading(live_server, page, worker_factory):
    factories.make_user("judge-admin", is_staff=True)
    make_arena(n_prompts=4, slugs=("alpha", "bravo", "charlie"))
    with OpenAIStub(script="prefer-marker", latency=0.05) as stub:
        make_judge("fair", base_url=stub.base_url, name="Fair judge")
        worker_factory(queues="judge", concurrency=8, pool="threads")
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "judge-admin")
        page.fill("#id_password", factories.PASSWORD)
        page.click("main button[type=submit]")
        page.click("header >> text=Campaigns")
        page.click("main >> text=New campaign")
        for slug in ("alpha", "bravo", "charlie"):
            page.check(f"#id_contenders input[value={slug}]")
        page.check("#id_judges input[value=fair]")
        page.select_option("#id_prompt_set", "judge-set")
        page.click("main button[value=estimate]")
        assert page.inner_text("[data-testid=estimate-calls]") == "24"
        page.click("main button[value=start]")
        page.wait_for_url("**/judges/campaigns/*/")
        # The progress fragment polls itself (htmx) until the campaign is finished: no reload here.
        page.wait_for_selector("[data-testid=campaign-status]:has-text('Finished')", timeout=60_000)
        assert page.inner_text("[data-testid=done]") == "24 / 24"
        assert page.inner_text("[data-testid=inconsistent]") == "0"
        assert page.locator("main button[data-action=pause]").count() == 0
    assert Campaign.objects.get().status == "finished"
