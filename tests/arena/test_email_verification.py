"""Email verification: a signed link mailed at sign-up (or on request) confirms the address; settings can make
votes count only from verified accounts, or let a verified email stand in for the minimum account age."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from django.core import mail, signing

from arena.models import Verdict, VerifiedEmail
from arena.services.email_verification import SALT, verification_token
from arena.voting.ballots import Ballot
from arena.voting.recording import vote_record
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _link_in_last_mail() -> str:
    return re.search(r"http://testserver(/accounts/verify-email/[^/\s]+/)", mail.outbox[-1].body).group(1)


def test_a_sign_up_with_an_email_mails_a_link_that_confirms_it(client):
    form = {"username": f"u{uuid.uuid4().hex[:8]}", "email": "me@example.org",
            "password1": factories.PASSWORD, "password2": factories.PASSWORD}  # fmt: skip
    response = client.post("/accounts/signup/", form, REMOTE_ADDR=f"203.0.113.{uuid.uuid4().int % 250 + 1}")
    assert response.status_code == 302 and len(mail.outbox) == 1 and mail.outbox[0].to == ["me@example.org"]
    assert not VerifiedEmail.objects.exists()  # nothing stored until the link is followed

    page = client.get(_link_in_last_mail())

    assert page.status_code == 200 and "me@example.org is confirmed" in page.content.decode()
    assert VerifiedEmail.objects.get().email == "me@example.org"


def test_a_signed_in_user_can_ask_for_a_link_and_sees_the_status(alice_client):
    assert 'data-testid="email-unverified"' in alice_client.get("/accounts/verify-email/").content.decode()
    assert alice_client.post("/accounts/verify-email/", {"email": "alice@example.org"}).status_code == 302
    alice_client.get(_link_in_last_mail())
    assert 'data-testid="email-verified"' in alice_client.get("/accounts/verify-email/").content.decode()


@pytest.mark.parametrize(
    ("make_token", "status", "message"),
    [
        (lambda user: verification_token(user=user, email="a@example.org")[:-3] + "xyz", 400, "is not valid"),
        (lambda user: "not-a-token", 400, "is not valid"),
        (
            lambda user: signing.dumps({"u": 999_999, "e": "a@example.org"}, salt=SALT),
            404,
            "no longer exists",
        ),
    ],
)
def test_a_bad_link_says_why_and_confirms_nothing(client, alice, make_token, status, message):
    response = client.get(f"/accounts/verify-email/{make_token(alice)}/")
    assert response.status_code == status and message in response.content.decode()
    assert not VerifiedEmail.objects.exists()


def test_an_expired_link_is_refused(client, alice, settings, monkeypatch):
    token = verification_token(user=alice, email="a@example.org")
    settings.ARENA_EMAIL_VERIFICATION_DAYS = 1
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 2 * 86400)  # the link is read two days later
    response = client.get(f"/accounts/verify-email/{token}/")
    assert response.status_code == 400 and "has expired" in response.content.decode()
    assert not VerifiedEmail.objects.exists()


def test_a_bad_address_is_a_400_and_sends_nothing(alice_client):
    response = alice_client.post("/accounts/verify-email/", {"email": "not an address"})
    assert response.status_code == 400 and not mail.outbox


def test_a_mail_server_that_is_down_is_said_on_the_page(alice_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    response = alice_client.post("/accounts/verify-email/", {"email": "alice@example.org"})
    assert response.status_code == 503 and "could not be sent" in response.content.decode()


def _vote_as(user):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    assignment = factories.serve_to(task, user)
    vote_record(token=assignment.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
    return Verdict.objects.get(voter_key=f"u:{user.pk}")


@pytest.mark.parametrize("verified", [False, True])
def test_required_verification_decides_whether_a_vote_counts(settings, verified):
    settings.ARENA_VOTE_REQUIRE_VERIFIED_EMAIL = True
    voter = factories.make_annotator_user("voter")
    if verified:
        VerifiedEmail.objects.create(user=voter, email="v@example.org")
    assert _vote_as(voter).excluded is (not verified)


def test_a_verified_email_stands_in_for_the_minimum_account_age(settings):
    settings.ARENA_VOTE_MIN_ACCOUNT_AGE = 7 * 86400
    voter = factories.make_annotator_user("new-but-verified")
    VerifiedEmail.objects.create(user=voter, email="n@example.org")
    assert _vote_as(voter).excluded is False


def test_one_address_confirms_one_account(client, alice_client):
    assert alice_client.post("/accounts/verify-email/", {"email": "shared@example.org"}).status_code == 302
    alice_client.get(_link_in_last_mail())
    other = factories.make_user("mallory")
    client.force_login(other)
    sent = len(mail.outbox)
    response = client.post("/accounts/verify-email/", {"email": "SHARED@example.org"})
    assert response.status_code == 400 and "already confirms another account" in response.content.decode()
    assert len(mail.outbox) == sent and VerifiedEmail.objects.count() == 1
    # A link made for the second account before the first confirmed is refused too.
    token = verification_token(user=other, email="Shared@Example.org")
    page = client.get(f"/accounts/verify-email/{token}/")
    assert page.status_code == 400 and "already confirms another account" in page.content.decode()
    assert list(VerifiedEmail.objects.values_list("email", flat=True)) == ["shared@example.org"]


def test_confirmation_mails_are_capped_per_account_per_hour(alice_client, settings):
    settings.ARENA_VERIFICATION_MAILS_PER_HOUR = 2
    for n in range(2):
        assert alice_client.post("/accounts/verify-email/", {"email": f"a{n}@example.org"}).status_code == 302
    sent = len(mail.outbox)
    response = alice_client.post("/accounts/verify-email/", {"email": "a9@example.org"})
    assert response.status_code == 429 and "Too many confirmation mails" in response.content.decode()
    assert len(mail.outbox) == sent and not VerifiedEmail.objects.exists()
