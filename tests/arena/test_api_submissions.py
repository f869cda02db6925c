"""Submitting a model through the REST API with token auth, and the OpenAPI schema the app serves."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from arena.models import ApiToken, Contender, Output
from tests.support import factories


@pytest.fixture
def auth(alice):
    _, token = ApiToken.issue(user=alice, name="ci")
    return {"Authorization": f"Bearer {token}"}


def test_it_registers_a_pending_contender_and_uploads_outputs(client, auth, prompt_set, alice):
    created = client.post(
        "/api/contenders",
        {"slug": "m1", "name": "Model One", "license": "MIT"},
        content_type="application/json",
        headers=auth,
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "pending"
    assert Contender.objects.get(slug="m1").submitted_by == alice

    data = b'{"prompt_id": "p1", "output": "one"}\n{"prompt": "Question number 2?", "output": "two"}\n'
    upload = client.post(
        "/api/contenders/m1/outputs",
        {"prompt_set": prompt_set.slug, "file": SimpleUploadedFile("o.jsonl", data)},
        headers=auth,
    )
    assert upload.status_code == 201, upload.content
    assert upload.json() == {"contender": "m1", "prompt_set": prompt_set.slug, "created": 2}

    mine = client.get("/api/me/contenders", headers=auth).json()
    assert mine[0]["n_outputs"] == 2
    assert mine[0]["prompt_sets"] == [
        {"slug": prompt_set.slug, "name": prompt_set.name, "n_prompts": 3, "n_outputs": 2}
    ]


def test_it_accepts_alpaca_eval_json(client, auth, prompt_set, alice):
    factories.make_contender("m2", status="pending", user=alice)
    data = b'[{"instruction": "Question number 1?", "output": "a", "generator": "m2"}, {"instruction": "Question number 3?", "output": "c", "generator": "m2"}]'
    upload = client.post(
        "/api/contenders/m2/outputs",
        {"prompt_set": prompt_set.slug, "format": "alpaca_eval", "file": SimpleUploadedFile("o.json", data)},
        headers=auth,
    )
    assert upload.status_code == 201, upload.content
    assert sorted(Output.objects.values_list("prompt__external_id", flat=True)) == ["p1", "p3"]


def test_pending_contenders_are_not_public(client, auth, alice):
    factories.make_contender("secret", status="pending", user=alice)
    factories.make_contender("public", status="approved")
    assert [c["slug"] for c in client.get("/api/contenders").json()] == ["public"]
    assert client.get("/api/contenders/secret").status_code == 404


def test_it_requires_a_valid_token(client, prompt_set):
    response = client.post("/api/contenders", {"slug": "x", "name": "X"}, content_type="application/json")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]
    bad = client.post(
        "/api/contenders",
        {"slug": "x", "name": "X"},
        content_type="application/json",
        headers={"Authorization": "Bearer nope"},
    )
    assert bad.status_code == 401
    assert not Contender.objects.exists()


def test_it_refuses_someone_elses_contender(client, auth, bob, prompt_set):
    factories.make_contender("theirs", status="approved", user=bob)
    data = b'{"prompt_id": "p1", "output": "x"}\n'
    response = client.post(
        "/api/contenders/theirs/outputs",
        {"prompt_set": prompt_set.slug, "file": SimpleUploadedFile("o.jsonl", data)},
        headers=auth,
    )
    assert response.status_code == 404
    assert not Output.objects.exists()


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        # The schema declares the slug's pattern and the column lengths (OpenAPI), so pydantic refuses first.
        ({"slug": "bad slug!", "name": "X"}, 422, "slug: String should match pattern"),
        ({"slug": "ok", "name": "X" * 201}, 422, "name: String should have at most 200 characters"),
        ({"slug": "ok", "name": "  "}, 400, "display name"),
        ({"slug": "ok", "name": "X", "endpoint_url": "ftp://x"}, 400, "not an http(s) URL"),
        (
            {"slug": "ok", "name": "X", "endpoint_api_key_env": "SECRET_KEY"},
            422,
            "endpoint_api_key_env cannot be set",
        ),
        ({"name": "X"}, 422, "slug"),
    ],
)
def test_bad_contender_payloads_are_json_4xx(client, auth, payload, status, fragment):
    response = client.post("/api/contenders", payload, content_type="application/json", headers=auth)
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert not Contender.objects.exists()


def test_duplicate_slug_is_a_client_error(client, auth):
    factories.make_contender("taken")
    response = client.post(
        "/api/contenders", {"slug": "taken", "name": "X"}, content_type="application/json", headers=auth
    )
    assert response.status_code == 400
    assert "is not available" in response.json()["error"]
    assert Contender.objects.count() == 1


def test_malformed_json_body_is_a_4xx_not_a_500(client, auth):
    response = client.post("/api/contenders", "{not json", content_type="application/json", headers=auth)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_unknown_upload_format_is_refused(client, auth, alice, prompt_set):
    factories.make_contender("m3", user=alice)
    response = client.post(
        "/api/contenders/m3/outputs",
        {"prompt_set": prompt_set.slug, "format": "csv", "file": SimpleUploadedFile("o", b"x")},
        headers=auth,
    )
    assert response.status_code == 400
    assert "Unknown format 'csv'" in response.json()["error"]


def test_the_openapi_schema_is_served(client, db):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "LLM Arena API"
    assert "/api/contenders/{slug}/outputs" in schema["paths"]
    assert client.get("/api/docs").status_code == 200
