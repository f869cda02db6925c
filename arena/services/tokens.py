"""Personal API tokens: issued with an expiry, listed, revoked; checked on every API request.

Only a token's SHA-256 is stored; the token itself is returned once, by `token_issue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from arena.errors import Invalid, NotFound
from arena.models import ApiToken

TOKEN_LIFETIMES_DAYS = (7, 30, 90, 365)
DEFAULT_LIFETIME_DAYS = 90


def token_issue(*, user, name: str, expires_in_days: int = DEFAULT_LIFETIME_DAYS) -> tuple[ApiToken, str]:
    """Create a token valid for `expires_in_days` days (1–365); returns the row and the token (shown once)."""
    name = name.strip()
    if not name or len(name) > ApiToken._meta.get_field("name").max_length:
        raise Invalid("Give the token a name of 1 to 100 characters.", field="name")
    if not 1 <= expires_in_days <= max(TOKEN_LIFETIMES_DAYS):
        raise Invalid(
            f"expires_in_days must be between 1 and {max(TOKEN_LIFETIMES_DAYS)}.", field="expires_in_days"
        )
    return ApiToken.issue(user=user, name=name, expires=timezone.now() + timedelta(days=expires_in_days))


def token_revoke(*, user, token_id: int) -> bool:
    """Revoke one of `user`'s tokens; returns whether it changed (False when it was already revoked).

    Raises NotFound when `user` has no such token, so one user cannot probe another's token ids.
    """
    if not ApiToken.objects.filter(pk=token_id, user=user).exists():
        raise NotFound(f"You have no token with id {token_id}.", field="token_id")
    changed = ApiToken.objects.filter(pk=token_id, user=user, revoked__isnull=True).update(
        revoked=timezone.now()
    )
    return changed == 1


@dataclass(frozen=True)
class TokenCheck:
    user: object | None
    refusal: str = ""  # why the token is refused, for the 401 message


def token_authenticate(token: str) -> TokenCheck:
    """The active user a token belongs to, or why it is refused (unknown, revoked, expired, inactive user)."""
    row = ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(token)).first()
    if row is None or not row.user.is_active:
        return TokenCheck(None, "This token is not valid.")
    now = timezone.now()
    state = row.state_at(now)
    if state == "revoked":
        return TokenCheck(None, f"This token ({row.prefix}…) was revoked; create a new one at /me/tokens/.")
    if state == "expired":
        return TokenCheck(
            None,
            f"This token ({row.prefix}…) expired on {row.expires:%Y-%m-%d}; create a new one at /me/tokens/.",
        )
    ApiToken.objects.filter(pk=row.pk).update(last_used=now)
    return TokenCheck(row.user)
