"""The one edge where the domain errors of `arena.errors` become what a caller sees.

- a page: `error_page` (the layout's error page, or for htmx the fragment its script expects),
- an API error: `error_body` + `status_for`, installed as django-ninja exception handlers by `arena.api.errors`,
- a command-line message: `command_error` (or `DomainErrorsAsCommandErrors`), one line on stderr, exit 1.

`DomainErrorMiddleware` renders every `DomainError` (and `Http404`) a page view lets escape, so views raise
instead of catching. Only this module knows which status code each kind of error gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from arena.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Throttled, TooLarge, Unavailable

# Most specific kind first: a subclass (TooLarge) is found before its base (Invalid).
STATUS: dict[type[DomainError], int] = {
    TooLarge: 413,
    Invalid: 400,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Throttled: 429,
    Unavailable: 503,
}
HEADINGS = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible any more",
    413: "Upload too large",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}


def status_for(error: DomainError) -> int:
    """The HTTP status of `error`'s kind; a `DomainError` of no listed kind is bad input (400)."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def error_headers(error: DomainError) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after)} if isinstance(error, Throttled) else {}


def error_body(error: DomainError) -> dict[str, object]:
    """The API's error body: `{"error", "field"}`, plus `problems` when the input had several (one a line of
    `error` too)."""
    body: dict[str, object] = {"error": error.message, "field": error.field}
    if error.problems:
        body["problems"] = error.problems
    return body


@dataclass(frozen=True)
class Frame:
    """How a part of the site shows an error: its heading, the way back, and what htmx requests get
    ("text": the bare message, which static/js/vote.js shows; "box": only the `box_id` element, which
    static/js/leaderboard.js swaps in; "page": the whole page)."""

    title: str
    back_url: str
    back_label: str
    heading: str = ""  # empty: the status's heading (HEADINGS)
    htmx: str = "page"
    box_id: str = "error"


DEFAULT_FRAME = Frame(title="Error", back_url="arena:home", back_label="Back to the arena")
FRAMES = {  # by URL namespace
    "voting": Frame(
        title="Vote not taken",
        heading="Vote not taken",
        back_url="voting:vote",
        back_label="Back to voting",
        htmx="text",
    ),
    "leaderboard": Frame(
        title="Leaderboard",
        heading="Leaderboard",
        back_url="leaderboard:index",
        back_label="Back to the leaderboard",
        htmx="box",
        box_id="board",
    ),
    "judges": Frame(
        title="Judges",
        heading="Judging the judges",
        back_url="judges:report",
        back_label="Back to the judges overview",
    ),
}


def frame_for(request: HttpRequest) -> Frame:
    match = getattr(request, "resolver_match", None)
    return FRAMES.get(match.namespace if match else "", DEFAULT_FRAME)


def is_api(request: HttpRequest) -> bool:
    return request.META.get("PATH_INFO", "").startswith("/api/")


def error_page(request: HttpRequest, error: DomainError, *, frame: Frame | None = None) -> HttpResponse:
    """The error as a page of the part of the site the request was for (see FRAMES)."""
    frame = frame or frame_for(request)
    status = status_for(error)
    htmx = bool(getattr(request, "htmx", False))
    if htmx and frame.htmx == "text":
        response = HttpResponse(error.message, status=status, content_type="text/plain; charset=utf-8")
    else:
        template = "error.html#error-box" if htmx and frame.htmx == "box" else "error.html"
        context = {"frame": frame, "heading": frame.heading or HEADINGS[status], "message": error.message}
        # Before the authentication middleware (arena.request_guard) there is no user to render the layout for.
        html = render_to_string(template, context, request=request if hasattr(request, "user") else None)
        response = HttpResponse(html, status=status)
    for name, value in error_headers(error).items():
        response[name] = value
    return response


def error_json(error: DomainError) -> JsonResponse:
    """The API's error body outside django-ninja (middleware answering before the API's view)."""
    response = JsonResponse(error_body(error), status=status_for(error))
    for name, value in error_headers(error).items():
        response[name] = value
    return response


def error_response(request: HttpRequest, error: DomainError) -> HttpResponse:
    """JSON under /api/, a page elsewhere."""
    return error_json(error) if is_api(request) else error_page(request, error)


def command_error(error: DomainError, *, before: str = "", after: str = "") -> CommandError:
    """What a management command prints for `error` (`manage.py` prints it on stderr and exits 1); `before`
    names the option the error is about, `after` says what the command did not do."""
    return CommandError(" ".join(part for part in (before, error.message, after) if part))


class DomainErrorsAsCommandErrors(BaseCommand):
    """A management command whose `handle` may raise domain errors: each becomes its `command_error`."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DomainError as error:
            raise command_error(error) from error


class DomainErrorMiddleware:
    """Page views raise domain errors (and `Http404`); this renders them. API views never get here:
    django-ninja handles their exceptions itself (arena.api.errors)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError):
            return error_response(request, exception)
        if isinstance(exception, Http404) and not request.path.startswith("/admin/"):
            return error_response(request, NotFound(str(exception) or "Not found."))
        return None
