"""API authentication: `Authorization: Bearer arena_...`, looked up by SHA-256 digest (arena.services.tokens).

A wrong, revoked or expired token is refused with 401 and a message saying which; it never falls back to
anonymous access, even on operations that also serve anonymous callers.
"""

from django.contrib.auth.models import AnonymousUser
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from arena.services.tokens import token_authenticate


class TokenRefused(AuthenticationError):
    def __init__(self, message: str) -> None:
        super().__init__(401, message)


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        check = token_authenticate(token)
        if check.user is None:
            raise TokenRefused(check.refusal)
        request.user = check.user
        return check.user


class OptionalTokenAuth(TokenAuth):
    """For operations anyone may call but a token holder sees more on (their own pending contenders).

    No Authorization header: anonymous (`request.auth` is an AnonymousUser). A header: it must be valid.
    The OpenAPI document shows these operations' security as "TokenAuth, or none" (see arena.api).
    """

    def __call__(self, request):
        if not request.headers.get(self.header):
            return AnonymousUser()
        result = super().__call__(request)
        if result is None:  # a header that is not "Bearer ...": refused rather than ignored
            raise TokenRefused("Send the token as 'Authorization: Bearer <token>'.")
        return result


token_auth = TokenAuth()
optional_token_auth = OptionalTokenAuth()


def user_of(request):
    """Who asks, for endpoints open to everyone that serve staff more: the user of a valid Bearer token,
    else the session's user (possibly anonymous). A bad token is served as a visitor, never refused."""
    try:
        return token_auth(request) or request.user
    except TokenRefused:
        return request.user
