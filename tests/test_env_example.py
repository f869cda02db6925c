""".env.example documents every setting read from the environment, and its values load as they stand."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "WEB_PORT", "JUDGE_WORKERS", "JUDGE_THREADS"}


def _documented() -> dict[str, str]:
    """Variables of .env.example, commented-out examples included, with their example values."""
    pairs = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    return dict(pairs)


def _read_by_settings() -> set[str]:
    return set(re.findall(r'env_[a-z]+\(\s*"([A-Z0-9_]+)"', (ROOT / "arena" / "settings.py").read_text()))


def test_every_environment_setting_is_documented_and_nothing_else_is():
    documented, read = set(_documented()), _read_by_settings()
    assert read - documented == set(), "settings missing from .env.example"
    compose = (ROOT / "docker-compose.yml").read_text()
    assert all(name in compose for name in COMPOSE_ONLY)
    assert documented - read - COMPOSE_ONLY == set(), ".env.example documents variables nothing reads"


def test_the_example_values_are_accepted_by_the_settings(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not re.match(r"[A-Z][A-Z0-9_]+$", k) or k in {"PATH", "HOME"}
    }
    env.update(_documented())
    env.pop("DATABASE_URL"), env.pop("REDIS_URL")  # examples for other hosts; the defaults need none
    # Two values moved off their defaults, so the check below shows the environment is read at all.
    checked = {"ARENA_VOTE_RATE_PER_MINUTE": "31", "JUDGES_TASK_BATCH": "17"}
    env.update(checked, ARENA_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="arena.settings")
    names = ", ".join(f"settings.{name}" for name in checked)
    code = f"import django; django.setup(); from django.conf import settings; print({names})"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == list(checked.values())


def test_the_old_name_of_the_judges_pair_priority_hook_stops_start_up_naming_the_new_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"JUDGES_PAIR_PRIORITY", "JUDGES_PAIR_OVERLAP"}}
    env.update(
        JUDGES_PAIR_OVERLAP="tests.judges.test_campaign_planning.fixed_priority",
        ARENA_VAR_DIR=str(tmp_path),
        DEBUG="1",
        DJANGO_SETTINGS_MODULE="arena.settings",
    )
    code = "import django; django.setup(); from django.conf import settings; print(settings.JUDGES_PAIR_PRIORITY)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "JUDGES_PAIR_OVERLAP was renamed JUDGES_PAIR_PRIORITY" in result.stderr
    assert "rename the variable in your environment" in result.stderr
    # Under its new name the same value (not the default) is read as it stands.
    env["JUDGES_PAIR_PRIORITY"] = env.pop("JUDGES_PAIR_OVERLAP")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tests.judges.test_campaign_planning.fixed_priority"
