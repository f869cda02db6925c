from django.utils import timezone
from ninja.security import HttpBearer

from arena.models import ApiToken


class TokenAuth(HttpBearer):
    """`Authorization: Bearer arena_...`; tokens are looked up by their SHA-256 digest."""

    def authenticate(self, request, token: str):
        row = ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(token)).first()
        if row is None or not row.user.is_active:
            return None
        ApiToken.objects.filter(pk=row.pk).update(last_used=timezone.now())
        request.user = row.user
        return row.user


token_auth = TokenAuth()


def user_of(request):
    """Who asks, for endpoints open to everyone that serve staff more: the user of a valid Bearer token,
    else the session's user (possibly anonymous). A bad token is served as a visitor, never refused."""
    return token_auth(request) or request.user
