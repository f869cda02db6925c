"""An upload over ARENA_MAX_UPLOAD_BYTES gets 413 (API) or a form error (page) stating its size and the limit."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from arena.models import Output
from arena.services.tokens import token_issue
from tests.support import factories


@pytest.fixture
def target(db, settings, alice):
    settings.ARENA_MAX_UPLOAD_BYTES = 1000
    factories.make_contender("big-model", user=alice)
    return factories.make_prompt_set("big-set")


def test_the_api_answers_413_with_the_real_size_and_the_limit(client, alice, target):
    _, token = token_issue(user=alice, name="t")
    upload = SimpleUploadedFile("outputs.jsonl", b"x" * 5000)
    response = client.post(
        "/api/contenders/big-model/outputs",
        {"prompt_set": "big-set", "file": upload},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 413
    assert response.json()["error"] == (
        "outputs.jsonl: the file is 5,000 bytes, over the upload limit of 1,000 bytes (ARENA_MAX_UPLOAD_BYTES); "
        "split it into smaller files."
    )
    assert not Output.objects.exists()


def test_the_upload_page_shows_the_real_size_and_the_limit(alice_client, target):
    upload = SimpleUploadedFile("outputs.jsonl", b"x" * 5000)
    response = alice_client.post("/contenders/big-model/upload/", {"prompt_set": "big-set", "file": upload})
    assert response.status_code == 400
    assert "the file is 5,000 bytes, over the upload limit of 1,000 bytes" in response.content.decode()
    assert not Output.objects.exists()


def test_a_request_body_over_the_limit_gets_413_stating_the_limit(client, alice, settings, db):
    settings.ARENA_MAX_UPLOAD_BYTES = 2048
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    _, token = token_issue(user=alice, name="t")
    body = '{"slug": "x", "name": "' + "n" * 10_000 + '"}'
    response = client.post(
        "/api/contenders", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 413
    assert response.json()["error"].startswith("The request body is over the upload limit of 2,048 bytes")
