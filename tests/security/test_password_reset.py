"""Password reset works by e-mail when mail is configured, and says plainly that it is not otherwise."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.support import factories


@pytest.fixture
def person(db):
    return factories.make_user("resetter", email="resetter@example.org")


def test_the_reset_mail_links_to_a_form_that_sets_a_new_password(client, person, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post("/accounts/password_reset/", {"email": "resetter@example.org"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["resetter@example.org"]
    link = re.search(r"/accounts/reset/[^/\s]+/[^/\s]+/", mail.outbox[0].body).group(0)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session-held one
    response = client.post(
        form_url, {"new_password1": "A-brand-new-pass-42", "new_password2": "A-brand-new-pass-42"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("A-brand-new-pass-42")


def test_without_a_mail_server_the_page_says_reset_is_not_configured(client, person, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    page = client.get("/accounts/password_reset/").content.decode()
    assert (
        "Password reset by e-mail is not configured on this" in page
        and '<form method="post" class="form">' not in page
    )
    response = client.post("/accounts/password_reset/", {"email": "resetter@example.org"})
    assert response.status_code == 503 and "not configured" in response.content.decode()
    person.refresh_from_db()
    assert person.check_password(factories.PASSWORD)


def test_local_use_prints_mail_to_the_console_and_production_sends_by_smtp(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)"
    base = {
        "PATH": "/usr/bin:/bin",
        "ARENA_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "arena.settings",
    }
    cases = {
        "console": {"DEBUG": "1"},
        "dummy": {"DEBUG": "0", "SECRET_KEY": "x" * 50},
        "smtp": {"DEBUG": "0", "SECRET_KEY": "x" * 50, "EMAIL_HOST": "smtp.example.org"},
    }
    for expected, env in cases.items():
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.stdout.strip() == f"django.core.mail.backends.{expected}.EmailBackend", result.stderr
