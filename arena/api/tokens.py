"""Managing one's own API tokens through the API: create (with an expiry), list, revoke.

Responses that carry a token, and the list, are sent with `Cache-Control: no-store`.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from ninja import Field, Path, Router, Schema, Status

from arena.api.auth import token_auth
from arena.api.errors import ErrorOut
from arena.models import ApiToken
from arena.services.tokens import DEFAULT_LIFETIME_DAYS, TOKEN_LIFETIMES_DAYS, token_issue, token_revoke

router = Router(tags=["tokens"], auth=token_auth)
ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(DEFAULT_LIFETIME_DAYS, ge=1, le=max(TOKEN_LIFETIMES_DAYS))


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created: datetime
    expires: datetime | None
    last_used: datetime | None
    revoked: datetime | None
    state: str = Field(description="active, expired or revoked")


class NewTokenOut(TokenOut):
    token: str = Field(description="The token itself; shown once, only its SHA-256 is stored.")


def _token_out(row: ApiToken) -> dict:
    fields = ("id", "name", "prefix", "created", "expires", "last_used", "revoked")
    return {**{f: getattr(row, f) for f in fields}, "state": row.state_at(timezone.now())}


@router.get("/me/tokens", response={200: list[TokenOut], **ERRORS}, summary="My API tokens")
def list_tokens(request, response: HttpResponse):
    add_never_cache_headers(response)
    return [_token_out(row) for row in request.auth.api_tokens.all()]


@router.post("/me/tokens", response={201: NewTokenOut, **ERRORS}, summary="Create a token (shown once)")
def create_token(request, response: HttpResponse, payload: TokenIn):
    add_never_cache_headers(response)
    row, token = token_issue(user=request.auth, name=payload.name, expires_in_days=payload.expires_in_days)
    return Status(201, {**_token_out(row), "token": token})


@router.post(
    "/me/tokens/{token_id}/revoke", response={200: TokenOut, **ERRORS}, summary="Revoke one of my tokens"
)
def revoke_token(request, token_id: int = Path(..., ge=1, le=2**63 - 1)):
    token_revoke(user=request.auth, token_id=token_id)
    return _token_out(ApiToken.objects.get(pk=token_id))
