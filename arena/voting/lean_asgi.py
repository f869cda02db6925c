"""The lean vote and serve paths under ASGI, the deployed server's protocol (gunicorn with uvicorn workers).

Why: `arena.wsgi` offers the vote POST and the served battle's htmx GET to their lean paths
(`arena.voting.lean_vote`, `arena.voting.lean_serve`); Django's ASGI handler alone takes both through its whole
stack, at about half the votes per second (docs/voting-performance.md, "The lean paths under ASGI").

How: `VoteRoutedASGIHandler` is Django's ASGI handler with one step changed, `get_response_async` (between
the request being made from the scope and body, and its response being sent). A request `LeanRouting` picks,
with the same patterns and checks as under WSGI, is handed to its lean path in a thread, the way Django runs a
sync view: `sync_to_async(thread_sensitive=True)`, which inside the handler's per-request
`ThreadSensitiveContext` is the thread where that request's `request_started` ran and its `request_finished`
(the response's close) will run. So the lean path's database connection is the one those signals open and
give back to the pool, as for a sync view (without a pool, a connection is not reused under ASGI whatever
CONN_MAX_AGE says: the thread ends with the request). An exception escaping the lean path becomes Django's
500 in that thread (`LeanRouting.lean_respond`), so `request_finished` still gives the connection back. Everything around that step stays
the handler's own: the body's reading, the script prefix, the signals, the watch for a disconnect, the
response's sending and closing. A request its lean path leaves to Django (it answers None, before anything
is counted or written) goes on as a fresh request, made from the same scope and the body already read, to
Django's `get_response_async`, like every request no lean path is offered. The live streams are routed in
front of this handler (`live.stream_app`) and never reach it.
"""

from __future__ import annotations

import io
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import set_urlconf

from arena.voting.lean_vote import LeanRouting


class VoteRoutedASGIHandler(LeanRouting, ASGIHandler):
    """Django's ASGI handler with the lean vote and serve paths (this module's docstring): arena.asgi serves
    it."""

    def __init__(self) -> None:
        super().__init__()
        self.lean_paths()  # built now, not on the event loop by the first vote

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        set_urlconf(settings.ROOT_URLCONF)  # as Django's get_response_async, before anything else
        offered = self.lean_offered(request)
        if offered is not None:
            lean, key = offered
            response = await sync_to_async(self.lean_respond, thread_sensitive=True)(lean, request, key)
            if response is not None:
                return response
            request = _fresh(cast(ASGIRequest, request))  # this handler makes ASGIRequests
        return await super().get_response_async(request)


def _fresh(request: ASGIRequest) -> ASGIRequest:
    """A new request for Django's stack, as if the lean path had never looked (it may have read the body)."""
    return ASGIRequest(request.scope, io.BytesIO(request.body))
