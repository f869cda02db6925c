"""Schemathesis against /api/openapi.json on the live server: anonymous, as a user and as staff.

This is `schemathesis run --checks all` itself (its CLI, in a subprocess, against pytest-django's live
server on the test database): every operation is called with generated valid and invalid data through its
coverage (as staff), fuzzing and stateful phases, and every built-in check runs — no 5xx, responses match
their declared schemas, status codes and content types are documented, authentication is not ignored,
invalid data is refused (positive_data_acceptance alone is left out: see below). Examples per operation are bounded (SCHEMATHESIS_EXAMPLES, default 6) so the three
runs together stay near a minute on two cores. Each run prints the requests it made and how many got a 5xx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena.services.tokens import token_issue
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add
from tests.support import factories

EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "6")
ST = Path(sys.executable).with_name("st")


@pytest.fixture
def rated_arena(transactional_db, settings):
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 5
    settings.LEADERBOARD_MIN_VERDICTS = 5
    arena = arena_make(("alpha", "beta", "gamma"), statuses={})
    verdicts_add(arena.battles, seed=1)
    verdicts_add(arena.battles, source=judge_source("judge-gpt", "GPT judge"), seed=2)
    leaderboards_recompute(trigger="test")
    return arena


def _bearer(username: str, *, staff: bool) -> list[str]:
    user = factories.make_user(username, is_staff=staff, is_superuser=staff)
    _, token = token_issue(user=user, name="schemathesis")
    return ["-H", f"Authorization: Bearer {token}"]


def _report_counts(report_dir: Path) -> tuple[int, int]:
    """(requests, 5xx answers) from schemathesis' NDJSON event stream."""
    requests = server_errors = 0
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            for status in _statuses(json.loads(line)):
                requests += 1
                server_errors += status >= 500
    return requests, server_errors


def _statuses(event) -> list[int]:
    found = []
    if isinstance(event, dict):
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            found.append(response["status_code"])
        for value in event.values():
            if isinstance(value, (dict, list)):
                found.extend(_statuses(value))
    elif isinstance(event, list):
        for value in event:
            found.extend(_statuses(value))
    return found


# The coverage phase (boundary values of every parameter, ~45 s) runs as staff, who get past every
# authentication check; anonymous and user runs fuzz and chain calls (stateful) within the time budget.
PHASES = {"anonymous": "fuzzing,stateful", "user": "fuzzing,stateful", "staff": "coverage,fuzzing,stateful"}


@pytest.mark.parametrize("role", ["anonymous", "user", "staff"])
def test_the_api_answers_by_its_schema_and_never_5xx(live_server, rated_arena, role, tmp_path):
    headers = [] if role == "anonymous" else _bearer(role, staff=role == "staff")
    command = [
        str(ST),
        "run",
        f"{live_server.url}/api/openapi.json",
        "--checks",
        "all",
        # Not applicable: a well-formed value naming nothing that exists (an unknown dimension, a run that is
        # not a number) is answered 400 naming the parameter and the choices, which this check counts as a
        # rejected valid request; the schema cannot enumerate database rows. Invalid data is still checked
        # (negative_data_rejection), and so is every other property.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        EXAMPLES,
        "--phases",
        PHASES[role],
        "--workers",
        "1",
        "--generation-deterministic",
        "--suppress-health-check",
        "all",
        "--report",
        "ndjson",
        "--report-dir",
        str(tmp_path),
        "--no-color",
        *headers,
    ]
    # cwd: schemathesis keeps a cache folder (.schemathesis/) where it runs; not in the checkout.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    (tmp_path / "stdout.txt").write_text(result.stdout + result.stderr)
    requests, server_errors = _report_counts(tmp_path)
    print(f"\nschemathesis ({role}): {requests} requests, {server_errors} answered 5xx")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert requests > 0 and server_errors == 0
