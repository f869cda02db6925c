"""Settings refuse bad environment values at start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "CELERY_BROKER_URL"}
    }
    base.update(ARENA_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="arena.settings", **env)
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.ARENA_MAX_UPLOAD_BYTES)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "0"}, "SECRET_KEY is required when DEBUG is off"),
        ({"DEBUG": "1", "DATABASE_URL": "mysqlx://nope"}, "DATABASE_URL='mysqlx://nope' cannot be used"),
        (
            {"DEBUG": "1", "ARENA_MAX_UPLOAD_BYTES": "ten megs"},
            "ARENA_MAX_UPLOAD_BYTES='ten megs' is not a positive size",
        ),
        ({"DEBUG": "1", "CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL='kafka://x' is not supported"),
        ({"DEBUG": "1", "DB_CONN_MAX_AGE": "-3"}, "DB_CONN_MAX_AGE=-3 is below the minimum of 0"),
    ],
)
def test_bad_values_stop_start_up_with_a_clear_message(tmp_path, env, fragment):
    result = _start(tmp_path, **env)
    assert result.returncode != 0
    assert fragment in result.stderr


def test_local_defaults_need_no_services(tmp_path):
    result = _start(tmp_path, DEBUG="1", ARENA_MAX_UPLOAD_BYTES="512K")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", str(512 * 1024)]
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"


# `makemigrations --skip-checks`, `shell` and `help` reach Django's command machinery before anything reads a
# setting, which then carried on without the app registry (a traceback, or a partial command list).
@pytest.mark.parametrize(
    "command",
    [["check"], ["makemigrations", "--skip-checks"], ["makemigrations"], ["shell", "-c", "1"], ["help"]],
)
def test_manage_py_says_what_is_misconfigured_in_one_line(tmp_path, command):
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    base.update(ARENA_VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT, env=base, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().startswith("manage.py: SECRET_KEY is required when DEBUG is off")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(ROOT.glob("*/migrations/*_auto_*.py"))  # makemigrations wrote nothing
