"""The vote POST (htmx), served beside Django's middleware stack rather than through it.

Why: a vote is the arena's hottest request, and most of its CPU went to work a vote does not need done the
general way: the ORM compiling the signed-in user's look-up, a template rendered with every context
processor for a fragment that uses none of them, the URL resolver, and a dozen middleware layers, each
checking for things a vote never carries (docs/voting-performance.md has the profile and the figures).

How: `VoteRoutedHandler` is Django's own WSGI handler (signals, request parsing, connection clean-up, the
response's headers and cookies all stay Django's) with one change: an htmx POST to `voting:submit` is first
offered to `lean_submit`. That takes the request only when it is the ordinary case, checked with Django's
own code wherever it is cheap (the host check, the request text guard, the CSRF middleware's checks, the
session, the session's password hash), and hands back None for everything else, *before* anything is
counted or written, so Django serves it exactly as it always did: a missing or bad CSRF token, an unknown
host, a signed-out or expired session, a hash that no longer matches the password, an anonymous voter, a
request that is not htmx, not urlencoded or larger than a ballot, and any settings this module was not
written for (an SSL redirect, a different middleware list or user model). The user's row is read by the
vote's locking statement (one round trip fewer); a user Django would not let in (gone, inactive, a password
hash that no longer matches) rolls that transaction back before the rate limit counts anything, and is left
to Django the same way.

Once taken, the vote does what `views.submit` does, with the same services (rate limit, `vote_record`,
`reveal_for`); domain errors become the same responses (`arena.error_responses.error_page`, the voting
frame), other exceptions Django's 500 (`response_for_exception`), and every response then passes the
`process_response` of the project's middleware, in Django's order: the same headers (security, CSP,
X-Frame-Options, Vary: Cookie, Content-Length) and the same cookie handling (session, CSRF).
The reveal fragment is the template's own output, rendered once per shape with placeholders, then filled
with the escaped values (`RevealFragments`); each shape is checked against a full render when first built.

The served battle's htmx GET is routed the same way, to `arena.voting.lean_serve`; what both paths share (the
middleware built once, their response side) is `LeanPath`. Under ASGI both are offered the same requests
by `arena.voting.lean_asgi`, in the request's thread.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from importlib import import_module
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import DisallowedHost, RequestDataTooBig, ValidationError
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.template.loader import get_template, render_to_string
from django.urls import get_script_prefix, reverse, set_urlconf
from django.utils.crypto import constant_time_compare
from django.utils.log import log_response
from django.utils.module_loading import import_string
from django_htmx.middleware import HtmxDetails

from arena.error_responses import FRAMES, error_page
from arena.errors import DomainError, NotFound, Throttled
from arena.request_guard import BadText, request_text_check
from arena.voting.ballots import CHOICES, ballot_from_post
from arena.voting.identity import Voter, client_ip
from arena.voting.presenting import Reveal, reveal_for
from arena.voting.ratelimit import rate_limit_hit
from arena.voting.recording import vote_checked, vote_counted, vote_record_locked
from arena.voting.template_pieces import PiecesByShape, url_scope
from arena.voting.vote_store import HEAD, LockedVote, vote_lock, vote_lock_beside

# The stack this module stands in for. Another list (a middleware added, removed or moved) turns the lean
# path off until this module is checked against it: tests/arena/test_voting_lean.py fails meanwhile.
KNOWN_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "arena.request_guard.RequestTextGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "arena.error_responses.DomainErrorMiddleware",
)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# A ballot is a few short fields; anything larger is left to Django (and its upload limits).
MAX_BODY_BYTES = 4096
FORM = "application/x-www-form-urlencoded"
TEMPLATE = "voting/battle.html#revealed"
# Assignment tokens are `secrets.token_urlsafe(24)`; slugs in URLs need no quoting when they look like this.
TOKEN = "[A-Za-z0-9_-]{1,64}"
_URL_SAFE = re.compile("[A-Za-z0-9_-]+")


def lean_enabled() -> bool:
    """Whether the settings are the ones this module reproduces Django's handling for."""
    return (
        tuple(settings.MIDDLEWARE) == KNOWN_MIDDLEWARE
        and not settings.SECURE_SSL_REDIRECT
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.PREPEND_WWW
        and not settings.CSRF_USE_SESSIONS
        and not settings.DEBUG
        and settings.AUTH_USER_MODEL == "auth.User"
        and not settings.DATABASES["default"].get("ATOMIC_REQUESTS")
    )


class RevealFragments:
    """The reveal fragment's HTML, by shape (`arena.voting.template_pieces`): rendered by the template once
    with placeholders for the values, then filled in with the values escaped as the template escapes them.
    A shape is what changes the markup itself: the choice (which button is marked), how many optional rows
    were voted on, and the undo window."""

    _MARK = "q9LeanSlot{}Q"

    def __init__(self) -> None:
        self._pieces = PiecesByShape()

    def html(self, context: dict[str, Any]) -> str:
        reveal: Reveal = context["reveal"]
        values = [
            reveal.left_name,
            reveal.right_name,
            context["next_url"],
            context["undo_url"],
            context["progress_url"],
        ]
        for name, label in reveal.dimensions:
            values += [name, label]
        shape = (reveal.choice, reveal.choice_label, len(reveal.dimensions), context["undo_seconds"])
        return self._pieces.html(
            shape,
            values,
            lambda: self._marked(context, len(values)),
            lambda: render_to_string(TEMPLATE, context),
        )

    def _marked(self, context: dict[str, Any], slots: int) -> tuple[str, list[str]]:
        marks = [self._MARK.format(i) for i in range(slots)]
        reveal: Reveal = context["reveal"]
        dims = [(marks[5 + 2 * i], marks[6 + 2 * i]) for i in range(len(reveal.dimensions))]
        marked = {
            **context,
            "reveal": Reveal(marks[0], marks[1], reveal.choice, reveal.choice_label, dims),
            "next_url": marks[2],
            "undo_url": marks[3],
            "progress_url": marks[4],
        }
        return get_template(TEMPLATE).render(marked), marks


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF checks, answering a refusal quietly: Django's stack refuses the request again, and logs
    and renders the refusal itself."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return REFUSED


REFUSED = HttpResponse(status=403)


class LeanPath:
    """What a lean path shares with the others: the project's middleware, built once, for their checks (CSRF,
    the session store) and their response side (`_finished`), and the CSP headers, built once."""

    def __init__(self) -> None:
        def unused(request: HttpRequest) -> HttpResponse:
            raise AssertionError("a lean path never calls down the middleware chain")

        middleware = {path: import_string(path)(unused) for path in KNOWN_MIDDLEWARE}
        self.csrf = _CsrfCheck(unused)
        self.csp = middleware["csp.middleware.CSPMiddleware"]
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore
        # process_response in Django's order: the stack's reverse (CSP is handled by `_csp`).
        self.responders = [
            (path, mw.process_response)
            for path, mw in reversed(middleware.items())
            if hasattr(mw, "process_response")
        ]
        self.csp_headers: list[tuple[str, str]] | None = None

    def offered(self, request: HttpRequest) -> str | None:
        """The request's key (what `respond` needs) when this path may take it; None leaves it to Django."""
        raise NotImplementedError

    def respond(self, request: HttpRequest, key: str) -> HttpResponse | None:
        """The response, or None (before anything is counted or written) to leave it to Django."""
        raise NotImplementedError

    # --- the response side of the stack ----------------------------------------------------------------

    def _finished(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        for path, process_response in self.responders:
            if path == "csp.middleware.CSPMiddleware":
                self._csp(request, response)
            else:
                try:  # as Django wraps each middleware layer (convert_exception_to_response)
                    response = process_response(request, response)
                except Exception as exc:
                    response = response_for_exception(request, exc)
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]  # as BaseHandler does
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    def _answered(self, request: Any, view: Callable[[], HttpResponse]) -> HttpResponse:
        """`view()`'s response, with exceptions answered as the stack would: domain errors and Http404 as
        DomainErrorMiddleware answers them, the rest as Django's handler (logged, signalled, its 500 page).
        _LeftToDjango passes through."""
        try:
            return view()
        except _LeftToDjango:
            raise
        except DomainError as exc:
            return error_page(request, exc, frame=FRAMES["voting"])
        except Http404 as exc:
            return error_page(request, NotFound(str(exc) or "Not found."), frame=FRAMES["voting"])
        except Exception as exc:  # noqa: BLE001  # as Django's handler
            return response_for_exception(request, exc)

    def _csp(self, request: HttpRequest, response: HttpResponse) -> None:
        """The CSP middleware's headers. Its policy is the settings' (no nonce, no per-view decorator on this
        path), so it is built once per process, by the middleware itself, and reused."""
        if self.csp_headers is None:
            probe = HttpResponse()
            self.csp.process_response(request, probe)
            self.csp_headers = [
                (k, v) for k, v in probe.items() if k.lower().startswith("content-security-policy")
            ]
        for name, value in self.csp_headers:
            if name not in response:
                response[name] = value


class LeanVote(LeanPath):
    """The lean vote path of one handler."""

    def __init__(self) -> None:
        super().__init__()
        self.path = path_pattern("voting:submit", "token", TOKEN)
        self.submit_view: Callable = import_string("arena.voting.views.submit")
        self.reveals = RevealFragments()

    # --- taking the request, or not -------------------------------------------------------------------

    def offered(self, request: HttpRequest) -> str | None:
        """The token, when this request is one the lean path may take; None leaves it to Django."""
        meta = request.META
        if meta.get("REQUEST_METHOD") != "POST" or meta.get("HTTP_HX_REQUEST") != "true":
            return None
        found = self.path.fullmatch(request.path_info)
        if found is None or meta.get("CONTENT_TYPE", "").split(";")[0].strip() != FORM:
            return None
        try:
            if not 0 < int(meta.get("CONTENT_LENGTH") or 0) <= MAX_BODY_BYTES:
                return None
        except ValueError:
            return None
        return found["token"] if lean_enabled() else None

    def respond(self, request: HttpRequest, token: str) -> HttpResponse | None:
        """The vote's response, or None (before anything is counted or written) to leave it to Django."""
        # With CONN_HEALTH_CHECKS Django sends a kept connection a SELECT 1 before each request's first
        # statement: a round trip per vote. Here the first statement (reading the user and locking the vote,
        # before anything is counted or written) stands in for it. Whenever the request is left to Django's
        # stack (that statement failed, or never ran), the check is armed again: Django checks the connection
        # and opens a new one if need be.
        # Looked up once (the `connection` proxy looks it up on each attribute read); health_check_done is
        # Django's own flag, left out of its stubs.
        db: Any = connections[DEFAULT_DB_ALIAS]
        check_pending = not db.health_check_done
        db.health_check_done = True
        try:
            user_id = self._admitted(request)
        except Exception:  # e.g. the session's database read failed: nothing done yet, Django's stack answers
            user_id = None
        if user_id is not None:
            request.htmx = HtmxDetails(request)  # type: ignore[attr-defined]
            try:
                response = self._answer(request, token, user_id)
            except _LeftToDjango:
                response = None
            if response is not None:
                return self._finished(request, response)
        db.health_check_done = not check_pending
        return None

    def _answer(self, request: HttpRequest, token: str, user_id: Any) -> HttpResponse:
        """The vote's response before the middleware's response steps; _LeftToDjango passes through."""
        return self._answered(request, lambda: self._vote(request, token, user_id))

    def _admitted(self, request: HttpRequest) -> Any:
        """The session's user id when Django's stack would let this request reach the view as far as can be
        told without the database (the user's row is read with the vote's lock), else None."""
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
            request_text_check(request)  # as RequestTextGuardMiddleware (reads the body)
        except (DisallowedHost, BadText, RequestDataTooBig):
            return None
        request.session = self.session_store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        self.csrf.process_request(request)
        if self.csrf.process_view(request, self.submit_view, (), {"token": ""}) is not None:
            return None  # refused: Django refuses it again, with its own page and log line
        return _session_user_id(request.session)

    # --- the vote, as views.submit ---------------------------------------------------------------------

    def _vote(self, request: HttpRequest, token: str, user_id: Any) -> HttpResponse:
        """views.submit's steps, in its order of refusals (rate limit, ballot, token, state), with the user
        read and the vote locked first, in one statement: a user Django would not let in raises _LeftToDjango
        (the transaction rolled back, nothing counted or written)."""
        with transaction.atomic():
            try:
                user, locked = _user_and_vote(user_id, token)
            except Exception as exc:  # e.g. the database is down: Django's stack answers (its 503)
                raise _LeftToDjango from exc
            if user is None or not _session_matches(request.session, user):
                raise _LeftToDjango
            request.user = user
            voter = Voter(key=f"u:{user.pk}", user=user)
            limited = rate_limit_hit(scope="vote", voter_key=voter.key, ip=client_ip(request))
            if limited is not None:
                raise Throttled(limited.message, retry_after=limited.retry_after)
            ballot = ballot_from_post(request.POST)
            result = vote_record_locked(vote_checked(locked, voter), voter, ballot)
        vote_counted(result)
        vote = result.vote
        context = {
            "reveal": reveal_for(vote, result.dimension_names),
            "choices": CHOICES.items(),
            "next_url": reversed_url("voting:task", vote.task_slug) + "?start=1",
            "undo_url": reversed_url("voting:undo", token),
            "undo_seconds": settings.ARENA_VOTE_UNDO_SECONDS,
            "progress_url": reversed_url("voting:progress", vote.task_slug),
            "oob": True,
        }
        return HttpResponse(self.reveals.html(context))


def path_pattern(url_name: str, group: str, pattern: str) -> re.Pattern[str]:
    """The pattern of `url_name`'s path, its one argument (`pattern`) captured as `group`. Matched against
    path_info, which leaves out the script prefix that reverse() puts in."""
    path = "/" + reverse(url_name, args=[_ARG]).removeprefix(get_script_prefix())
    prefix, _, suffix = path.partition(_ARG)
    return re.compile(f"{re.escape(prefix)}(?P<{group}>{pattern}){re.escape(suffix)}")


_ARG = "Zq9ArgQ"
_URL_TEMPLATES: dict[tuple[Any, str, str], tuple[str, str]] = {}


def reversed_url(name: str, arg: str) -> str:
    """`reverse(name, args=[arg])`; for an argument that needs no quoting, from the URL's shape, found once
    per URLconf and script prefix by `reverse` itself (reversing cost more than the rest of the reveal)."""
    if not _URL_SAFE.fullmatch(arg):
        return reverse(name, args=[arg])
    key = (*url_scope(), name)
    if key not in _URL_TEMPLATES:
        _URL_TEMPLATES[key] = reverse(name, args=[_ARG]).rpartition(_ARG)[::2]  # type: ignore[assignment]
    prefix, suffix = _URL_TEMPLATES[key]
    return prefix + arg + suffix


_MODEL_BACKEND = ModelBackend()
_USER_SQL: dict[tuple[Any, str], tuple[str, list[str]]] = {}


class _LeftToDjango(Exception):
    """Raised inside the vote's transaction (rolled back: nothing counted or written) when Django's stack
    is to answer the request instead."""


def _user_select(model: Any, connection: Any) -> tuple[str, list[str]]:
    """`User.objects.get(pk=…)` as one plain statement, each column labelled `vote_store.HEAD` + its
    attribute name (so the vote's lock can read it beside its own columns), and the attribute names; made
    once per model and backend."""
    key = (model, connection.vendor)
    if key not in _USER_SQL:
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        _USER_SQL[key] = (
            "SELECT {} FROM {} WHERE {} = %s".format(
                ", ".join(f"{quote(str(f.column))} AS {quote(HEAD + f.attname)}" for f in fields),
                quote(model._meta.db_table),
                quote(str(model._meta.pk.column)),
            ),
            [f.attname for f in fields],
        )
    return _USER_SQL[key]


def _user_and_vote(user_id: Any, token: str) -> tuple[Any, LockedVote | None]:
    """(the user as ModelBackend reads it, or None; the vote behind `token` locked, or None), inside the
    vote's transaction. On PostgreSQL one statement (`vote_lock_beside`), the user made by `Model.from_db`
    (the backend converts no column of the user model: the values are the ORM's), and nothing locked when
    there is no such user; elsewhere the ORM's look-up, then the lock."""
    model, connection = get_user_model(), connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        user = model._default_manager.filter(pk=user_id).first()
        return user, (vote_lock(token) if user is not None else None)
    sql, attnames = _user_select(model, connection)
    found = vote_lock_beside(token, sql, [user_id])
    if found is None:
        return None, None
    columns, locked = found
    return model.from_db(connection.alias, attnames, [columns[name] for name in attnames]), locked


def _session_user_id(session: Any) -> Any:
    """The signed-in user's id as `django.contrib.auth.get_user` finds it for a ModelBackend session, or None
    whenever Django's answer would be anything but that user's row: signed out, another backend, a session
    Django would answer for itself."""
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path != MODEL_BACKEND or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    return user_id


def _session_matches(session: Any, user: Any) -> bool:
    """The rest of `get_user` for the ordinary case: the user may sign in (active) and the session's hash
    matches the password. Anything else (an inactive user, a hash that no longer matches — Django then
    flushes the session —, a hash made with a fallback secret — Django then cycles the key) is Django's."""
    if not _MODEL_BACKEND.user_can_authenticate(user):
        return False
    session_hash = session.get(HASH_SESSION_KEY)
    return bool(session_hash) and constant_time_compare(session_hash, user.get_session_auth_hash())


class LeanRouting:
    """Which lean path, if any, a request is offered to: the vote POST to the lean vote path, the served
    battle's htmx GET to the lean serve path (`arena.voting.lean_serve`). Shared by the WSGI handler
    (`LeanVoteRouting`) and the ASGI one (`arena.voting.lean_asgi`)."""

    _lean: LeanVote | None = None
    _lean_serve: Any = None  # arena.voting.lean_serve.LeanServe, once built

    def lean_paths(self) -> tuple[LeanPath, LeanPath]:
        """The lean vote and serve paths, built on first use (they reverse URLs and build middleware)."""
        if self._lean is None:
            from arena.voting.lean_serve import LeanServe  # here: lean_serve builds on this module

            self._lean, self._lean_serve = LeanVote(), LeanServe()
        return self._lean, self._lean_serve

    def lean_offered(self, request: HttpRequest) -> tuple[LeanPath, str] | None:
        """(the lean path, the vote's token or the served task's slug) when one may take `request`, else
        None. Cheap: the request's method, headers, path and settings are read, nothing else."""
        for lean in self.lean_paths():
            key = lean.offered(request)
            if key is not None:
                return lean, key
        return None

    @staticmethod
    def lean_respond(lean: LeanPath, request: HttpRequest, key: str) -> HttpResponseBase | None:
        """`lean.respond`, with whatever escapes its own handling turned into Django's 500, as Django's handler
        never lets a view's exception reach the server: under ASGI an escaped exception would end the
        request's thread before `request_finished`, keeping its pooled database connection for good."""
        try:
            return lean.respond(request, key)
        except Exception as exc:  # noqa: BLE001  # as Django's handler
            return response_for_exception(request, exc)


class LeanVoteRouting(LeanRouting):
    """A Django WSGI handler's `get_response`, with the requests `LeanRouting` picks offered to their lean
    path first."""

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request = cast(WSGIRequest, request)  # Django's WSGI handlers (and its test client's) make these
        set_urlconf(settings.ROOT_URLCONF)
        offered = self.lean_offered(request)
        if offered is not None:
            lean, key = offered
            response = self.lean_respond(lean, request, key)
            if response is not None:
                return response
            request = _fresh(request)
        return super().get_response(request)  # type: ignore[misc]


class VoteRoutedHandler(LeanVoteRouting, WSGIHandler):
    """Django's WSGI handler with the lean vote and serve paths (this module's docstring, and
    `arena.voting.lean_serve`'s): arena.wsgi serves it."""


def _fresh(request: WSGIRequest) -> WSGIRequest:
    """A new request for Django's stack, as if the lean path had never looked (it read the body)."""
    environ = dict(request.environ)
    environ["wsgi.input"] = io.BytesIO(request.body)
    fresh = WSGIRequest(environ)
    if hasattr(request, "_dont_enforce_csrf_checks"):  # set by Django's test client only
        fresh._dont_enforce_csrf_checks = request._dont_enforce_csrf_checks  # type: ignore[attr-defined]
    return fresh
