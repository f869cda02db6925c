"""The judge campaign API under /api/judges/: token auth, staff only, same services as pages and CLI."""

from __future__ import annotations

import pytest

from arena.models import ApiToken, Contender
from judges.models import Campaign, Generation
from tests.judges.conftest import make_arena, make_judge, run_inline

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, staff):
    _, token = ApiToken.issue(user=staff, name="cli")

    def call(method: str, path: str, body: dict | None = None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        return getattr(client, method)(f"/api/judges{path}", **kwargs)

    return call


def test_configs_list_where_the_key_comes_from_never_the_key(api, monkeypatch):
    make_judge("gpt", api_key_env="OPENAI_API_KEY")
    (config,) = api("get", "/configs").json()
    assert config["slug"] == "gpt" and config["api_key_reference"] == "env:OPENAI_API_KEY"
    assert config["version"] == 1 and config["template_version"] == "pairwise-v1"
    assert "api_key" not in config


def test_estimate_start_watch_pause_resume_and_cancel(api, stub):
    make_arena(n_prompts=2, slugs=("alpha", "bravo", "charlie"))
    make_judge("fair", base_url=stub.base_url)
    body = {"contenders": ["alpha", "bravo", "charlie"], "prompt_set": "judge-set", "judges": ["fair"]}
    estimate = api("post", "/campaigns/estimate", body).json()
    assert estimate["calls"] == 12 and estimate["cost_usd"] > 0 and not Campaign.objects.exists()
    created = api("post", "/campaigns", {**body, "name": "via API"})
    assert created.status_code == 201
    data = created.json()
    assert data["status"] == "running" and data["estimate"]["calls"] == 12 and data["judges"] == ["fair v1"]
    assert data["progress"]["pending"] == 12
    campaign = Campaign.objects.get(pk=data["id"])
    assert api("post", f"/campaigns/{campaign.pk}/pause").json()["status"] == "paused"
    resumed = api("post", f"/campaigns/{campaign.pk}/resume").json()
    assert resumed["changed"] and resumed["status"] == "running"
    run_inline(campaign)
    done = api("get", f"/campaigns/{campaign.pk}").json()
    assert (
        done["status"] == "finished"
        and done["progress"]["done"] == 12
        and done["progress"]["final_verdicts"] == 6
    )
    assert api("post", f"/campaigns/{campaign.pk}/cancel").json()["changed"] is False
    assert [c["id"] for c in api("get", "/campaigns").json()] == [campaign.pk]
    assert api("get", "/campaigns/999999").status_code == 404


def test_a_generation_campaign_starts_from_the_api(api, monkeypatch):
    make_arena(n_prompts=3, slugs=("alpha",))
    Contender.objects.create(slug="local", name="Local", status="approved", endpoint_url="http://127.0.0.1:9/v1",
                             endpoint_model="llama3")  # fmt: skip
    body = {"kind": "generate", "contenders": ["local"], "prompt_set": "judge-set"}
    assert api("post", "/campaigns/estimate", body).json()["calls"] == 3
    data = api("post", "/campaigns", body).json()
    assert data["kind"] == "generate" and data["progress"]["pending"] == 3
    assert Generation.objects.filter(campaign_id=data["id"]).count() == 3
    refused = api("post", "/campaigns", {**body, "contenders": ["alpha"]})
    assert refused.status_code == 400 and "has no endpoint" in refused.json()["error"]
