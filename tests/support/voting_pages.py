"""What a browser reads off the battle page before it votes, shared by the lean-path tests."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

ASSIGNMENT_TOKEN = re.compile(r'/vote/b/([A-Za-z0-9_-]+)/"')
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def served_tokens(client: Client, task) -> tuple[str, str]:
    """Load the battle page (as the browser does before voting): (assignment token, CSRF token)."""
    html = client.get(reverse("voting:task", args=[task.slug]) + "?start=1").content.decode()
    token, csrf = ASSIGNMENT_TOKEN.search(html), CSRF_TOKEN.search(html)
    assert token and csrf, html[:300]
    return token.group(1), csrf.group(1)
