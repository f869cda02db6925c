"""`manage.py check --deploy` is clean under .env.production.example; HSTS and the SSL redirect come from env."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _production_env(tmp_path) -> dict[str, str]:
    values = dict(
        re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", (ROOT / ".env.production.example").read_text(), re.M)
    )
    assert values["SECRET_KEY"] == "", "the example must not ship a usable secret key"
    values["SECRET_KEY"] = secrets.token_urlsafe(50)  # what the example tells the operator to do
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return {**keep, **values, "ARENA_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "arena.settings"}


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_reports_no_issue_under_the_production_example(tmp_path):
    result = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_without_hsts_and_ssl_redirect(tmp_path):
    env = _production_env(tmp_path)
    env.update(SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="0")
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


def test_hsts_and_ssl_redirect_reach_the_response(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    plain = client.get("/leaderboard/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200  # compose's health check stays on plain HTTP
    secure = client.get("/leaderboard/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
