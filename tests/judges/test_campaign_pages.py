"""Staff pages: configs, the estimate-then-start form, the live progress fragment, pause/resume/cancel."""

from __future__ import annotations

import pytest

from judges.models import Campaign, JudgeConfig, Judgment
from judges.prompting import DEFAULT_TEMPLATE
from tests.judges.conftest import KEY_ENV, SECRET, make_arena, make_judge, run_inline, start_campaign

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_it_is_for_staff_only(client, alice):
    assert client.get("/judges/").status_code == 302  # to sign in
    client.force_login(alice)
    assert client.get("/judges/").status_code == 403
    assert client.get("/judges/configs/").status_code == 403
    assert "Campaigns" not in client.get("/").content.decode()


def test_staff_see_the_campaigns_link(staff_client):
    assert 'href="/judges/"' in staff_client.get("/").content.decode()


def test_the_form_shows_the_estimate_before_starting_and_then_starts(staff_client, stub):
    make_arena(n_prompts=2, slugs=("alpha", "bravo", "charlie"))
    make_judge("fair", base_url=stub.base_url)
    form = {"kind": "judge", "prompt_set": "judge-set", "contenders": ["alpha", "bravo", "charlie"], "judges": ["fair"],
            "plan": "all-pairs", "k": 1, "seed": 0, "name": "From the page"}  # fmt: skip
    page = staff_client.post("/judges/campaigns/new/", {**form, "action": "estimate"})
    assert page.status_code == 200 and not Campaign.objects.exists()
    html = page.content.decode()
    assert 'data-testid="estimate-calls">12<' in html and 'value="start"' in html
    started = staff_client.post("/judges/campaigns/new/", {**form, "action": "start"})
    campaign = Campaign.objects.get(name="From the page")
    assert started.status_code == 302 and started["Location"] == f"/judges/campaigns/{campaign.pk}/"
    assert Judgment.objects.filter(campaign=campaign, status="pending").count() == 12


def test_the_progress_fragment_polls_while_running_and_stops_when_finished(staff_client, stub):
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    fragment = staff_client.get(f"/judges/campaigns/{campaign.pk}/", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="progress"') and 'hx-trigger="every 1s"' in fragment
    assert "<html" not in fragment and 'data-testid="pending">4<' in fragment
    run_inline(campaign)
    fragment = staff_client.get(f"/judges/campaigns/{campaign.pk}/", **HTMX).content.decode()
    assert "hx-trigger" not in fragment and 'data-testid="done">4 / 4<' in fragment
    assert (
        'data-testid="campaign-status">Finished<' in fragment and 'data-testid="inconsistent">0<' in fragment
    )
    assert 'data-testid="spend">$0.00' in fragment
    page = staff_client.get(f"/judges/campaigns/{campaign.pk}/").content.decode()
    assert "<html" in page and "fair v1" in page


def test_pause_resume_and_cancel_from_the_page(staff_client, stub):
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    fragment = staff_client.post(f"/judges/campaigns/{campaign.pk}/pause/", **HTMX).content.decode()
    assert "Paused" in fragment and 'data-action="resume"' in fragment and "hx-trigger" not in fragment
    assert staff_client.post(f"/judges/campaigns/{campaign.pk}/resume/").status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == "running"
    staff_client.post(f"/judges/campaigns/{campaign.pk}/cancel/")
    assert Campaign.objects.get(pk=campaign.pk).status == "cancelled"
    assert set(Judgment.objects.values_list("status", flat=True)) == {"cancelled"}
    assert staff_client.get(f"/judges/campaigns/{campaign.pk}/pause/").status_code == 405


def test_configs_are_created_and_edited_from_the_page_and_show_the_key_reference_only(
    staff_client, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, SECRET)
    make_arena(n_prompts=1)
    form = {"slug": "gpt4o", "name": "GPT-4o mini", "provider": "openai", "model": "gpt-4o-mini", "base_url": "",
            "api_key_env": KEY_ENV, "api_key_file": "", "temperature": 0, "max_tokens": 300, "dimensions": ["overall"],
            "template": DEFAULT_TEMPLATE, "price_input_per_mtok": "0.15", "price_output_per_mtok": "0.6",
            "concurrency_limit": 8, "timeout_seconds": 30, "is_active": "on"}  # fmt: skip
    assert staff_client.post("/judges/configs/new/", form).status_code == 302
    config = JudgeConfig.objects.get(slug="gpt4o")
    listing = staff_client.get("/judges/configs/").content.decode()
    assert f"env:{KEY_ENV}" in listing and SECRET not in listing
    edited = staff_client.post(
        "/judges/configs/gpt4o/", {**form, "template": DEFAULT_TEMPLATE + "\nBe strict."}, follow=True
    )
    assert "now version 2" in edited.content.decode()
    config.refresh_from_db()
    assert config.current_version.number == 2
    bad = staff_client.post("/judges/configs/gpt4o/", {**form, "template": "{answer_a} {answer_b}"})
    assert bad.status_code == 400 and "missing required placeholder {question}" in bad.content.decode()
    assert SECRET not in staff_client.get("/judges/configs/gpt4o/").content.decode()
