"""Map every failure to a JSON 4xx body; a client error must never surface as a 500.

Domain errors get their body and status from `arena.error_responses`, the one mapping; the handlers below add
the framework's own failures (schema validation, authentication, unparseable bodies, 404, oversize bodies).
"""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from arena.api.auth import TokenRefused
from arena.error_responses import error_body, error_headers, status_for
from arena.errors import DomainError, NotFound, TooLarge
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
    @api.exception_handler(DomainError)
    def domain_error(request, exc: DomainError):
        response = api.create_response(request, error_body(exc), status=status_for(exc))
        for name, value in error_headers(exc).items():
            response[name] = value
        return response

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
        return domain_error(request, NotFound(str(exc) or "Not found."))

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        return domain_error(request, TooLarge(upload_limit_message()))
