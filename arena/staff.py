"""The one staff check, for pages, the API and templates alike.

Staff run the arena: they see blind answers with their contenders' names, run judge campaigns, exclude
annotators and recompute the leaderboards. `is_staff` says who they are; `staff_check` refuses anyone else
with a `Forbidden` naming what was refused; `staff_required` guards a page view (an anonymous visitor of a
page is sent to sign in first, since they may be staff who have not signed in yet).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from arena.errors import Forbidden


def is_staff(user: Any) -> bool:
    """Whether `user` (a user, AnonymousUser or None) is a signed-in staff member."""
    return bool(getattr(user, "is_authenticated", False) and user.is_staff)


def staff_check(user: Any, *, refusal: str) -> None:
    """Raise `Forbidden(refusal)` unless `user` is staff; `refusal` says what only staff may do."""
    if not is_staff(user):
        raise Forbidden(refusal)


def staff_required(refusal: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page view for staff only: an anonymous GET → the sign-in page (then back here); anything else from
    someone who is not staff → 403 with `refusal` (rendered by arena.error_responses)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Signing in leads back with a GET: fine for a page, useless for an action (a POST), refused instead.
            if not request.user.is_authenticated and request.method in ("GET", "HEAD"):
                return redirect_to_login(request.get_full_path())
            staff_check(request.user, refusal=refusal)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
