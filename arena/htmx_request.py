"""The request type of views that branch on htmx: django-htmx's middleware sets `request.htmx` on every
request (see MIDDLEWARE in arena/settings.py); this class tells the type checker so."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
