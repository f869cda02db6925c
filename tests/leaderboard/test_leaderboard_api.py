"""The read API under /api/leaderboard/: the same data as the pages, JSON errors for bad parameters."""

import pytest

from arena.models import ApiToken
from leaderboard.services import coalescing
from tests.support import factories

API = "/api/leaderboard/"


def test_it_returns_the_default_leaderboard(client, rated_arena):
    body = client.get(API).json()

    assert body["source"] == "people" and body["dimension"] == "overall" and body["status"] == "ok"
    assert {row["contender"] for row in body["rows"]} == {"alpha", "beta", "gamma", "delta"}
    first = body["rows"][0]
    assert first["ci_low"] <= first["rating"] <= first["ci_high"] and first["rank_ub"] == 1
    assert body["run"]["id"] == rated_arena.run.pk


def test_it_is_the_same_as_the_json_export(client, rated_arena):
    params = {"source": "judge-llama", "dimension": "overall", "sort": "-rating"}  # best first

    api = client.get(API, params).json()
    export = client.get("/leaderboard/export.json", params).json()

    assert api["rows"] == export["rows"] and api["rows"][0]["contender"] == "gamma"


@pytest.mark.parametrize(
    ("params", "status", "field", "message"),
    [
        ({"dimension": "wit"}, 400, "dimension", "Unknown dimension 'wit'"),
        ({"source": "nobody"}, 400, "source", "Unknown source 'nobody'"),
        ({"category": "poetry"}, 400, "category", "Unknown category 'poetry'"),
        ({"min_votes": "-3"}, 400, "min_votes", "min_votes must be a whole number, 0 or more, not '-3'"),
        ({"sort": "-"}, 400, "sort", "Unknown sort '-'"),
        ({"run": "424242"}, 404, None, "No finished leaderboard run #424242"),
    ],
)
def test_bad_parameters_get_a_json_4xx(client, rated_arena, params, status, field, message):
    response = client.get(API, params)

    assert response.status_code == status
    assert response.json()["field"] == field and message in response.json()["error"]


def test_options_list_what_can_be_asked(client, rated_arena):
    body = client.get(API + "options").json()

    assert {s["key"] for s in body["sources"]} == {"people", "judge-gpt", "judge-llama", "judges"}
    assert body["categories"] == ["math", "writing"] and "overall" in body["dimensions"]
    assert body["runs"][0]["id"] == rated_arena.run.pk


def test_judges_vs_people(client, rated_arena):
    rows = client.get(API + "judges-vs-people").json()

    assert {r["source"] for r in rows} == {"judge-gpt", "judge-llama"}
    for row in rows:
        assert 0 <= row["agreement"] <= 1 and row["compared"] > 0 and row["dimension"] == "overall"


def test_a_contender_and_its_record(client, rated_arena):
    body = client.get(API + "contenders/alpha", {"source": "people"}).json()

    assert body["contender"] == "alpha"
    people_overall = [r for r in body["ratings"] if r["source"] == "people" and r["dimension"] == "overall"]
    assert people_overall[0]["rating"] is not None
    assert {r["opponent"] for r in body["head_to_head"]} == {"beta", "gamma", "delta"}
    assert client.get(API + "contenders/omega").status_code == 404


def test_compare(client, rated_arena):
    lines = client.get(API + "compare", {"a": "alpha", "b": "beta"}).json()
    overall = next(line for line in lines if line["dimension"] == "overall")

    assert (
        0 < overall["a_win_probability"] < 1 and overall["a_wins"] + overall["ties"] + overall["b_wins"] > 0
    )
    missing = client.get(API + "compare", {"a": "alpha", "b": "nobody"})
    assert missing.status_code == 404 and "No approved contender 'nobody'" in missing.json()["error"]
    assert client.get(API + "compare", {"a": "alpha"}).status_code == 400


def test_recompute_needs_a_staff_token(client, rated_arena, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(coalescing, "_send", sent.append)
    _, user_token = ApiToken.issue(user=factories.make_user("viewer"), name="t")
    _, staff_token = ApiToken.issue(user=factories.make_user("boss", is_staff=True), name="t")

    assert client.post(API + "recompute").status_code == 401
    refused = client.post(API + "recompute", headers={"Authorization": f"Bearer {user_token}"})
    assert refused.status_code == 403 and "Only staff" in refused.json()["error"]
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(API + "recompute", headers={"Authorization": f"Bearer {staff_token}"})
    assert accepted.status_code == 202 and accepted.json() == {"status": "queued"} and sent == ["api"]
