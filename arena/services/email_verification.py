"""Email verification: a signed link mailed through Django's mail backend (console in the demo).

The link carries the user id and the address, signed with SECRET_KEY and valid for
ARENA_EMAIL_VERIFICATION_DAYS; nothing is stored until it is followed. Following it records the address on
`VerifiedEmail` (replacing an earlier one). Whether votes need it: `vote_counts_from`.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from arena.errors import Invalid, NotFound, Throttled, Unavailable
from arena.models import VerifiedEmail
from arena.throttling import verification_mail_take

SALT = "arena.email-verification"


def verification_token(*, user, email: str) -> str:
    return signing.dumps({"u": user.pk, "e": email}, salt=SALT)


def verification_send(*, user, email: str, link_for) -> None:
    """Mail the verification link for `email` to `email`; `link_for(token)` builds the absolute URL."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid(f"{email!r} is not an email address.", field="email") from None
    _refuse_if_taken(user, email)
    throttled = verification_mail_take(user_id=user.pk)
    if throttled:
        raise Throttled(throttled.message, retry_after=throttled.retry_after, field="email")
    days = settings.ARENA_EMAIL_VERIFICATION_DAYS
    try:
        _send(user, email, link_for(verification_token(user=user, email=email)), days)
    except (OSError, smtplib.SMTPException) as exc:
        raise Unavailable(
            f"The confirmation mail to {email} could not be sent ({type(exc).__name__}); try again later "
            "from /accounts/verify-email/.",
            field="email",
        ) from None


def _send(user, email: str, link: str, days: int) -> None:
    send_mail(
        subject="Confirm your email address for the LLM Arena",
        message=(
            f"Follow this link within {days} days to confirm {email} for the account "
            f"{user.get_username()!r}:\n\n{link}\n\n"
            "If you did not ask for this, ignore this message."
        ),
        from_email=None,  # DEFAULT_FROM_EMAIL
        recipient_list=[email],
    )


def verification_confirm(*, token: str) -> VerifiedEmail:
    """Record the address the signed token names; `Invalid` for a tampered or expired link, `NotFound` for a deleted account."""
    max_age = timedelta(days=settings.ARENA_EMAIL_VERIFICATION_DAYS)
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise Invalid("This confirmation link has expired: ask for a new one.") from None
    except signing.BadSignature:
        raise Invalid("This confirmation link is not valid: copy the whole link from the mail.") from None
    user = get_user_model().objects.filter(pk=data.get("u")).first()
    if user is None:
        raise NotFound("The account this link was sent for no longer exists.")
    _refuse_if_taken(user, data["e"])
    with transaction.atomic():
        verified, _ = VerifiedEmail.objects.update_or_create(
            user=user, defaults={"email": data["e"], "verified_at": timezone.now()}
        )
    return verified


def _refuse_if_taken(user, email: str) -> None:
    """One mailbox verifies one account: otherwise a single address would make any number of votes count."""
    taken = VerifiedEmail.objects.filter(email__iexact=email.strip()).exclude(user=user).exists()
    if taken:
        raise Invalid(
            f"{email} already confirms another account: each address may confirm one account. Use another.",
            field="email",
        )


def email_verified(user) -> bool:
    return (
        bool(user is not None and getattr(user, "pk", None))
        and VerifiedEmail.objects.filter(user=user).exists()
    )
