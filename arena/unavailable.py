"""The server-error handler (`handler500`): a database that cannot be reached is a plain 503, not a 500.

Django calls `handler500` from inside the `except` block that caught the view's (or a middleware's)
exception, so `sys.exc_info()` still names it here. When it is the database being unreachable (stopped,
restarting, connections refused), the answer is a short static page, or JSON under /api/, with
`Retry-After`: nothing in it touches the database, templates or settings, so it cannot fail in turn or
show anything about the server. Everything else gets Django's plain 500 page. Either way the traceback only
goes to the server log.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

RETRY_AFTER_SECONDS = 30
MESSAGE = "The arena is briefly unavailable (its database cannot be reached). Please try again in a minute."
_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>
<body><h1>Temporarily unavailable</h1><p>{MESSAGE}</p></body></html>
"""


def database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": MESSAGE, "field": None}, status=503)
    else:
        response = HttpResponse(_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if database_unavailable(sys.exc_info()[1]):
        return service_unavailable(request)
    return defaults.server_error(request)
