"""Map every failure to a JSON 4xx body; a client error must never surface as a 500."""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from arena.api.auth import TokenRefused
from arena.errors import InputError
from arena.services.files import upload_limit_message


class ErrorOut(Schema):
    """The body of every API error."""

    error: str
    field: str | None = None
    # Every problem found, when there were several (e.g. each bad line of an upload, up to a cap).
    problems: list[str] | None = None


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "form", "query"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(InputError)
    def input_error(request, exc: InputError):
        body: dict[str, object] = {"error": exc.message, "field": exc.field}
        if exc.problems:
            body["problems"] = exc.problems  # each problem of an uploaded file, one a line of "error" too
        return api.create_response(request, body, status=exc.status)

    @api.exception_handler(ValidationError)
    def validation_error(request, exc: ValidationError):
        body = {"error": _validation_message(exc), "field": None, "detail": exc.errors}
        return api.create_response(request, body, status=422)

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        message = str(exc)
        if isinstance(exc, TokenRefused):
            pass  # says which: unknown, revoked or expired
        elif isinstance(exc, AuthenticationError):
            message = "Authentication required: send 'Authorization: Bearer <token>' (tokens at /me/tokens/)."
        elif message == "Cannot parse request body":
            message = (
                "The request body is not valid JSON; send a JSON object with Content-Type: application/json."
            )
        return api.create_response(request, {"error": message, "field": None}, status=exc.status_code)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return api.create_response(request, {"error": str(exc) or "Not found.", "field": None}, status=404)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        body = {"error": upload_limit_message(), "field": None}
        return api.create_response(request, body, status=413)
