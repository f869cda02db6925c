"""A signed-in HTTP client for the fault tests: talks to a real server process like a browser without
JavaScript would (cookies, CSRF token, form posts)."""

from __future__ import annotations

import re

import httpx

from tests.support.factories import PASSWORD

TOKEN = re.compile(r'/vote/b/([A-Za-z0-9_-]+)/"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class SiteClient:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)

    def _csrf(self, page: str) -> str:
        return CSRF.search(page).group(1)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        form = self.http.get("/accounts/login/")
        assert form.status_code == 200, form.text[:500]
        data = {"username": username, "password": password, "csrfmiddlewaretoken": self._csrf(form.text)}
        return self.http.post("/accounts/login/", data=data)

    def battle_token(self, task_slug: str) -> str:
        page = self.http.get(f"/vote/t/{task_slug}/?start=1")
        assert page.status_code == 200, page.text[:500]
        return TOKEN.search(page.text).group(1)

    def vote(self, token: str, choice: str = "left") -> httpx.Response:
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "HX-Request": "true"}
        return self.http.post(f"/vote/b/{token}/", data={"overall": choice}, headers=headers)
