"""Tokens are listed, expire and can be revoked, at /me/tokens/ and through the API; pages showing one are no-store."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from arena.models import ApiToken
from arena.services.tokens import token_issue


def _bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.django_db
def test_it_creates_a_token_with_the_chosen_expiry_on_a_no_store_page(alice_client, alice):
    response = alice_client.post("/me/tokens/", {"name": "ci", "expires_in_days": "7"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    row = ApiToken.objects.get(user=alice)
    assert timedelta(days=7) - (row.expires - row.created) < timedelta(seconds=5)
    shown = response.content.decode().split('data-testid="new-token">')[1].split("<")[0]
    assert ApiToken.digest_of(shown) == row.digest


@pytest.mark.django_db
def test_the_token_page_lists_each_token_with_its_state(alice_client, alice):
    active, _ = token_issue(user=alice, name="active-one")
    gone, _ = token_issue(user=alice, name="gone-one")
    ApiToken.objects.filter(pk=gone.pk).update(revoked=timezone.now())
    old, _ = token_issue(user=alice, name="old-one", expires_in_days=1)
    ApiToken.objects.filter(pk=old.pk).update(expires=timezone.now() - timedelta(minutes=1))
    page = alice_client.get("/me/tokens/")
    assert "no-store" in page["Cache-Control"]
    text = page.content.decode()
    for name, state in (("active-one", "active"), ("gone-one", "revoked"), ("old-one", "expired")):
        row = text.split(f"<td>{name}</td>")[0].rsplit("<tr", 1)[1]
        assert f'data-state="{state}"' in row


@pytest.mark.django_db
def test_a_revoked_token_gets_401_json(client, alice_client, alice):
    row, token = token_issue(user=alice, name="t")
    assert client.get("/api/me/contenders", **_bearer(token)).status_code == 200
    assert alice_client.post(f"/me/tokens/{row.pk}/revoke/").status_code == 302
    response = client.get("/api/me/contenders", **_bearer(token))
    assert response.status_code == 401
    assert response.json()["error"].startswith(f"This token ({row.prefix}…) was revoked")


@pytest.mark.django_db
def test_an_expired_token_gets_401_json(client, alice):
    row, token = token_issue(user=alice, name="t", expires_in_days=1)
    ApiToken.objects.filter(pk=row.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/me/contenders", **_bearer(token))
    assert response.status_code == 401
    assert "expired on" in response.json()["error"]


@pytest.mark.django_db
def test_one_cannot_revoke_another_users_token(client, alice, bob):
    row, token = token_issue(user=alice, name="mine")
    client.force_login(bob)
    assert client.post(f"/me/tokens/{row.pk}/revoke/").status_code == 404
    _, other_token = token_issue(user=bob, name="theirs")
    response = client.post(f"/api/me/tokens/{row.pk}/revoke", **_bearer(other_token))
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=row.pk).revoked is None


@pytest.mark.django_db
def test_the_api_creates_lists_and_revokes_tokens(client, alice):
    _, token = token_issue(user=alice, name="first")
    created = client.post(
        "/api/me/tokens",
        json.dumps({"name": "deploy", "expires_in_days": 30}),
        content_type="application/json",
        **_bearer(token),
    )
    assert created.status_code == 201 and "no-store" in created["Cache-Control"]
    body = created.json()
    assert body["state"] == "active" and body["token"].startswith(body["prefix"])
    listed = client.get("/api/me/tokens", **_bearer(token))
    assert "no-store" in listed["Cache-Control"]
    assert {t["name"] for t in listed.json()} == {"first", "deploy"}
    revoked = client.post(f"/api/me/tokens/{body['id']}/revoke", **_bearer(token))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert client.get("/api/me/tokens", **_bearer(body["token"])).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, 366])
def test_the_api_refuses_an_expiry_out_of_range_and_creates_nothing(client, alice, days):
    _, token = token_issue(user=alice, name="first")
    response = client.post(
        "/api/me/tokens",
        json.dumps({"name": "x", "expires_in_days": days}),
        content_type="application/json",
        **_bearer(token),
    )
    assert response.status_code == 422 and "expires_in_days" in response.json()["error"]
    assert ApiToken.objects.count() == 1


@pytest.mark.django_db
def test_a_get_with_a_token_sees_the_holders_pending_contender(client, alice):
    from tests.support import factories

    factories.make_contender("pending-one", status="pending", user=alice)
    _, token = token_issue(user=alice, name="t")
    assert client.get("/api/contenders/pending-one").status_code == 404
    assert client.get("/api/contenders/pending-one", **_bearer(token)).json()["status"] == "pending"
    assert client.get("/api/contenders/pending-one", **_bearer("arena_wrong")).status_code == 401
