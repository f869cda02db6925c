"""NUL bytes and invalid Unicode anywhere in a request: a clear 400 from the edge, never a 500, nothing written."""

from __future__ import annotations

import json

import pytest

from arena.models import ApiToken, Contender, PromptSet
from tests.support import factories

# The public URLs the review found answering 500 to a NUL byte, and the rest of the main pages.
PUBLIC_PATHS = [
    "/",
    "/contenders/",
    "/leaderboard/",
    "/leaderboard/export.csv",
    "/leaderboard/export.json",
    "/leaderboard/compare/",
    "/vote/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password_reset/",
    "/api/contenders",
    "/api/prompt-sets",
    "/api/leaderboard/",
    "/api/leaderboard/options",
    "/api/leaderboard/judges-vs-people",
    "/api/leaderboard/compare",
]
BAD_VALUES = {
    "nul": "a%00b",
    "invalid utf-8": "a%FFb",
    "lone surrogate": "a%ED%A0%80b",  # U+D800 encoded as if it were UTF-8
    "truncated sequence": "a%C3",
}


def _assert_bad_request(response, path: str, field: str) -> None:
    assert response.status_code == 400, (path, response.status_code)
    if path.startswith("/api/"):
        body = response.json()
        assert body["field"] == field
        assert "send UTF-8 text without NUL bytes" in body["error"]
    else:
        assert response["Content-Type"].startswith("text/html")
        text = response.content.decode()
        assert "Bad request" in text and "send UTF-8 text without NUL bytes" in text
        assert "Traceback" not in text


@pytest.mark.django_db
@pytest.mark.parametrize("kind", BAD_VALUES)
@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_it_refuses_bad_text_in_any_query_parameter(client, path, kind):
    response = client.get(f"{path}?source={BAD_VALUES[kind]}")
    _assert_bad_request(response, path, "source")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/contenders/a%00b", "/leaderboard/contenders/a%00b/", "/contenders/a%00b/", "/vote/b/a%00b/"],
)
def test_it_refuses_a_nul_byte_in_the_path(client, path):
    _assert_bad_request(client.get(path), path, "path")


@pytest.mark.django_db
def test_it_refuses_invalid_utf8_in_the_path(client):
    _assert_bad_request(client.get("/api/contenders/a%ED%A0%80"), "/api/", "path")


@pytest.mark.django_db
def test_the_message_names_the_parameter_and_the_problem(client):
    body = client.get("/api/leaderboard/?dimension=x&source=a%00b").json()
    assert body == {
        "error": "Query parameter 'source' contains a NUL byte (\\u0000); send UTF-8 text without NUL bytes.",
        "field": "source",
    }


@pytest.mark.django_db
def test_it_refuses_a_nul_in_a_form_field_and_creates_nothing(alice_client):
    response = alice_client.post("/contenders/new/", {"slug": "nul-model", "name": "Nul\x00Model"})
    _assert_bad_request(response, "/contenders/new/", "name")
    assert not Contender.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_nul_in_a_multipart_field_and_creates_nothing(client):
    from django.contrib.auth.models import User

    form = {"username": "zed\x00", "password1": "Long-enough-1", "password2": "Long-enough-1"}
    response = client.post("/accounts/signup/", form)  # the test client sends multipart by default
    _assert_bad_request(response, "/accounts/signup/", "username")
    assert not User.objects.exists()


@pytest.fixture
def bearer(alice):
    _, token = ApiToken.issue(user=alice, name="edge")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field", "problem"),
    [
        ('{"slug": "m", "name": "a\\u0000b"}', "name", "NUL byte"),
        ('{"slug": "m", "name": "a\\ud800b"}', "name", "lone surrogate"),
        ('{"slug": "m", "name": "ok", "extra": ["x", "\\u0000"]}', "extra/1", "NUL byte"),
    ],
)
def test_it_refuses_bad_text_in_a_json_body_and_creates_nothing(client, bearer, payload, field, problem):
    response = client.post("/api/contenders", payload, content_type="application/json", **bearer)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and problem in body["error"]
    assert not Contender.objects.exists()


@pytest.mark.django_db
def test_a_json_body_nested_too_deep_gets_400_not_500(client, bearer):
    payload = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/contenders", payload, content_type="application/json", **bearer)
    assert response.status_code == 400
    assert response.json() == {
        "error": "The JSON body is nested deeper than 64 levels; send UTF-8 text without NUL bytes.",
        "field": "body",
    }
    assert not Contender.objects.exists()


@pytest.mark.django_db
def test_good_text_passes_untouched(client, bearer):
    payload = json.dumps({"slug": "unicode-model", "name": "Modèle 日本 🚀"})
    response = client.post("/api/contenders", payload, content_type="application/json", **bearer)
    assert response.status_code == 201
    assert Contender.objects.get(slug="unicode-model").name == "Modèle 日本 🚀"
    # Valid UTF-8 in a query passes the edge (the leaderboard itself may still refuse an unknown category).
    assert "send UTF-8 text" not in client.get("/leaderboard/?category=caf%C3%A9").content.decode()


@pytest.mark.django_db
def test_a_prompt_set_lookup_with_bad_text_changes_nothing(client, bearer):
    factories.make_prompt_set("ps")
    before = PromptSet.objects.count()
    response = client.post(
        "/api/contenders/x/outputs", {"prompt_set": "p\x00s"}, **bearer
    )  # multipart by default
    assert response.status_code == 400 and response.json()["field"] == "prompt_set"
    assert PromptSet.objects.count() == before


@pytest.mark.django_db
def test_it_refuses_invalid_utf8_in_an_urlencoded_form_and_creates_nothing(alice_client):
    body = "slug=fine&name=caf%E9"  # latin-1 é: not UTF-8
    response = alice_client.post("/contenders/new/", body, content_type="application/x-www-form-urlencoded")
    _assert_bad_request(response, "/contenders/new/", "name")
    assert not Contender.objects.exists()
