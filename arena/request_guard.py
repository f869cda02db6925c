"""Refuse requests carrying text the arena cannot store: NUL bytes and invalid Unicode, at the edge.

PostgreSQL refuses NUL in text, and Django quietly turns undecodable bytes into U+FFFD (so a lookup or a
stored name would differ from what was sent). Rather than let either surface as a 500 deep in a view, one
middleware checks the path, every query parameter, urlencoded and multipart form fields, and JSON bodies,
and answers 400 naming the offending part: JSON `{"error", "field"}` under /api/, a plain page elsewhere.
Nothing runs past it, so nothing is written.

Uploaded *files* are not checked here: their parsers report such problems with the file name and line.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from arena.error_responses import error_response
from arena.errors import Invalid, TooLarge
from arena.services.files import (
    JsonTooDeep,
    json_loads_bounded,
    json_text_problem,
    text_problem,
    upload_limit_message,
)

# A JSON body larger than this is left to the view (the API's own limits apply); it is parsed here once.
_JSON_CHECK_MAX_BYTES = 1024 * 1024


class BadText(ValueError):
    def __init__(self, where: str, problem: str, field: str) -> None:
        super().__init__(f"{where} {problem}")
        self.where = where
        self.problem = problem
        self.field = field  # the query parameter, form field or JSON path; "path" or "body" otherwise


def _decode_component(raw: bytes, where: str, field: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadText(where, "is not valid UTF-8 once percent-decoded", field) from None
    problem = text_problem(text)
    if problem:
        raise BadText(where, problem, field)
    return text


def _raw_wsgi(value: str) -> bytes:
    # WSGI hands over the raw bytes as latin-1 text; anything else is already decoded.
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _check_path(request: HttpRequest) -> None:
    raw = _raw_wsgi(request.META.get("PATH_INFO", ""))
    _decode_component(unquote_to_bytes(raw), "the URL path", "path")


def _check_urlencoded(raw: bytes, what: str) -> None:
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        name = _decode_component(unquote_to_bytes(name_raw.replace(b"+", b" ")), f"a {what} name", what)
        _decode_component(unquote_to_bytes(value_raw.replace(b"+", b" ")), f"{what} '{name}'", name)


def _check_json(raw: bytes) -> None:
    if not raw or len(raw) > _JSON_CHECK_MAX_BYTES:
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadText("the JSON body", "is not valid UTF-8", "body") from None
    try:
        data = json_loads_bounded(text)
    except JsonTooDeep as exc:
        raise BadText("the JSON body", f"is {exc}", "body") from None
    except ValueError:
        return  # malformed JSON: the API's parser answers with its own 400
    found = json_text_problem(data)
    if found:
        raise BadText(f"JSON field {found[0]}", found[1], found[0].lstrip("/"))


def _check_multipart(request: HttpRequest) -> None:
    for name, values in request.POST.lists():
        problem = text_problem(name)
        if problem:
            raise BadText("a form field name", problem, "form field")
        for value in values:
            problem = text_problem(value)
            if problem:
                raise BadText(f"form field '{name}'", problem, name)


def request_text_check(request: HttpRequest) -> None:
    """Raise BadText for the first part of the request that is not storable text."""
    _check_path(request)
    _check_urlencoded(_raw_wsgi(request.META.get("QUERY_STRING", "")), "query parameter")
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        _check_urlencoded(request.body, "form field")
    elif content_type == "multipart/form-data":
        _check_multipart(request)
    elif content_type == "application/json" or content_type.endswith("+json"):
        _check_json(request.body)


class RequestTextGuardMiddleware:
    """400 for a request whose path, query, form fields or JSON body hold NUL or invalid Unicode."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request_text_check(request)
        except BadText as exc:
            return _bad_request(
                request,
                f"{exc.where} {exc.problem}; send UTF-8 text without NUL bytes.",
                exc.field,
            )
        except RequestDataTooBig:
            return _too_big(request)
        return self.get_response(request)


def _bad_request(request: HttpRequest, message: str, field: str) -> HttpResponse:
    return error_response(request, Invalid(message[0].upper() + message[1:], field=field))


def _too_big(request: HttpRequest) -> HttpResponse:
    return error_response(request, TooLarge(upload_limit_message()))
