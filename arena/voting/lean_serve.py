"""The served battle's htmx GET (`voting:task` with `?start=1`), beside Django's middleware stack, as the vote
POST is (`arena.voting.lean_vote`, whose `LeanPath` this builds on).

Why: after the serve's SQL and its template were made lean, about a sixth of its web CPU was Django's request
machinery around the view: the URL resolver, a dozen middleware layers each checking for things this request
never carries, the lazy user, a SELECT 1 health check sent to the database before the first statement
(docs/voting-performance.md, "The lean serve").

How: `LeanRouting` (arena.wsgi's and arena.asgi's handlers) offers the request here when it is a GET with
`HX-Request: true`, the query `start=1` and nothing else, no body, for the task URL. `LeanServe.respond` then
takes it only when it is the ordinary case, checked with Django's own code where it is cheap (the host check,
the request text guard, the CSRF middleware's request steps, the session) and with `serve_head`'s ordinary-session check
(a ModelBackend session whose user exists, is active and whose password hash matches: the rules of Django's
`get_user`), and leaves everything else to Django's stack *before anything is counted or written*: DEBUG or
any settings `lean_vote.lean_enabled` was not written for, a request that is not htmx or carries another query,
a signed-out, anonymous or unusual session, a staff or superuser account, an unknown or inactive task, a first
visit (the annotator row is created by the view), another database than PostgreSQL, and any failure while
deciding (the session's read, `serve_head`'s statement: Django then checks the connection as it always does).

Once taken, the request gets what `views.task` does for that case, with the same functions
(`views._serve`, `views._battle_page`: the battle chosen and served, the fragment from its
pieces); domain errors and Http404 become the voting frame's error response, as `DomainErrorMiddleware`
answers them, other exceptions Django's 500 (`response_for_exception`), and every response passes the
`process_response` of the project's middleware in Django's order (`LeanPath._finished`): the security headers,
CSP, X-Frame-Options, `Vary: Cookie`, Content-Length, the session's saving and cookie (SESSION_SAVE_EVERY_REQUEST
included) and the CSRF cookie the fragment's form asks for. tests/arena/test_voting_lean_serve.py compares
each answer with Django's stack, headers and body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django_htmx.middleware import HtmxDetails

from arena.htmx_request import HtmxHttpRequest
from arena.request_guard import BadText, request_text_check
from arena.voting import views
from arena.voting.lean_vote import LeanPath, lean_enabled, path_pattern
from arena.voting.serve_head import ServeHead, serve_head

# Django's `slug` path converter.
SLUG = "[-a-zA-Z0-9_]+"
# The one query the lean path answers: the battle page's "next battle" link (views.task: started).
QUERY = "start=1"


class LeanServe(LeanPath):
    """The lean serve path of one handler (this module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.path = path_pattern("voting:task", "slug", SLUG)
        self.task_view: Callable = import_string("arena.voting.views.task")

    # --- taking the request, or not -------------------------------------------------------------------

    def offered(self, request: HttpRequest) -> str | None:
        """The task's slug, when this request is one the lean path may take; None leaves it to Django."""
        meta = request.META
        if (
            meta.get("REQUEST_METHOD") != "GET"
            or meta.get("HTTP_HX_REQUEST") != "true"
            or meta.get("QUERY_STRING") != QUERY
            or meta.get("CONTENT_LENGTH") not in (None, "", "0")
        ):
            return None
        found = self.path.fullmatch(request.path_info)
        return found["slug"] if found is not None and lean_enabled() else None

    def respond(self, request: HttpRequest, slug: str) -> HttpResponse | None:
        """The served battle's response, or None (before anything is counted or written) to leave it to
        Django."""
        # As the lean vote: the first statement (the session's, or serve_head's) stands in for the SELECT 1
        # Django sends a kept connection before a request's first statement (CONN_HEALTH_CHECKS); whenever
        # the request is left to Django, the check is armed again.
        db: Any = connections[DEFAULT_DB_ALIAS]
        check_pending = not db.health_check_done
        db.health_check_done = True
        try:
            head = self._admitted(request, slug)
        except Exception:  # e.g. the session's or serve_head's read failed: nothing done yet, Django answers
            head = None
        if head is None:
            db.health_check_done = not check_pending
            return None
        request.htmx = HtmxDetails(request)  # type: ignore[attr-defined]
        return self._finished(request, self._answer(cast(HtmxHttpRequest, request), head))

    def _admitted(self, request: HttpRequest, slug: str) -> ServeHead | None:
        """`serve_head`'s answer when Django's stack would serve this request the ordinary way, else None."""
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
            request_text_check(request)  # as RequestTextGuardMiddleware
        except (DisallowedHost, BadText, RequestDataTooBig):
            return None
        request.session = self.session_store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        self.csrf.process_request(request)  # the CSRF secret from its cookie, as the fragment's token needs
        if self.csrf.process_view(request, self.task_view, (), {"slug": slug}) is not None:
            return None
        head = serve_head(request, slug)  # sets request.user when it answers
        if head is None or head.task is None or head.annotator is None:
            return None  # not the ordinary session, no such open task, or a first visit (the view writes)
        if head.user.is_staff or head.user.is_superuser:
            return None
        return head

    # --- the serve, as views.task -----------------------------------------------------------------------

    def _answer(self, request: HtmxHttpRequest, head: ServeHead) -> HttpResponse:
        """views.task's steps for a started, signed-in annotator, and DomainErrorMiddleware's answers."""
        assert head.task is not None and head.annotator is not None  # _admitted took no other
        task, annotator = head.task, head.annotator
        return self._answered(
            request, lambda: views._serve(request, head.voter, task, annotator, head.none_open)
        )
