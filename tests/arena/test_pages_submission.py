"""The submission pages: sign up, register a contender, upload, see status and counts; privacy of pending ones."""

import html

from django.core.files.uploadedfile import SimpleUploadedFile

from arena.models import Contender
from tests.support import factories


def test_it_signs_up_and_lands_on_my_contenders(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": "x-Very-long-pass-9", "password2": "x-Very-long-pass-9"},
    )
    assert response.status_code == 302
    assert client.get("/me/contenders/").status_code == 200


def test_it_registers_then_uploads_and_shows_the_count(alice_client, alice, prompt_set):
    response = alice_client.post("/contenders/new/", {"slug": "mine", "name": "Mine"})
    assert response.status_code == 302 and response["Location"] == "/contenders/mine/upload/"
    assert Contender.objects.get(slug="mine").status == "pending"
    data = b'{"prompt_id": "p1", "output": "a"}\n{"prompt_id": "p2", "output": "b"}\n'
    response = alice_client.post(
        "/contenders/mine/upload/",
        {"prompt_set": prompt_set.slug, "file": SimpleUploadedFile("o.jsonl", data)},
    )
    assert response.status_code == 302
    page = alice_client.get("/contenders/mine/").content.decode()
    assert 'data-testid="output-count">2<' in page
    assert "Pending review" in page
    assert "2 / 3" in page


def test_duplicate_slug_is_shown_on_the_form(alice_client, db):
    factories.make_contender("taken")
    response = alice_client.post("/contenders/new/", {"slug": "taken", "name": "Again"})
    assert response.status_code == 400
    assert "The slug &#x27;taken&#x27; is not available" in response.content.decode()
    assert Contender.objects.count() == 1


def test_pending_contenders_are_hidden_from_the_public(client, alice, db):
    factories.make_contender("pending-one", status="pending", user=alice)
    factories.make_contender("approved-one", status="approved")
    listing = client.get("/contenders/").content.decode()
    assert "Approved-One" in listing and "Pending-One" not in listing
    assert client.get("/contenders/pending-one/").status_code == 404
    client.force_login(alice)
    assert client.get("/contenders/pending-one/").status_code == 200


def test_uploads_need_the_owner(client, bob, prompt_set):
    factories.make_contender("theirs", status="approved")
    client.force_login(bob)
    assert client.get("/contenders/theirs/upload/").status_code == 404


def test_pages_require_sign_in(client, db):
    for url in ("/contenders/new/", "/me/contenders/", "/me/tokens/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_staff_approve_from_the_admin(client, staff, alice):
    contender = factories.make_contender("to-approve", status="pending", user=alice)
    client.force_login(staff)
    response = client.post(
        "/admin/arena/contender/", {"action": "approve", "_selected_action": [contender.pk]}
    )
    assert response.status_code == 302
    contender.refresh_from_db()
    assert contender.status == "approved"


def test_api_token_is_shown_once_and_stored_hashed(alice_client, alice):
    page = html.unescape(alice_client.post("/me/tokens/", {"name": "laptop"}).content.decode())
    token = page.split('data-testid="new-token">')[1].split("<")[0]
    assert token.startswith("arena_")
    stored = alice.api_tokens.get()
    assert stored.digest != token and token not in stored.prefix + stored.digest
    assert token not in alice_client.get("/me/tokens/").content.decode()


def test_healthz(client, db):
    assert client.get("/healthz").content == b"ok"
