"""File-only commands start without the SDK, broker or API framework; web and worker still get Celery.

Each check runs a fresh interpreter: this test process has all of Django, Celery and the SDK loaded already.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Top-level packages a file-only command must not import: the judges' SDK and its HTTP stack, the task
# queue and its broker library, the API framework and its schema library, the Redis client.
HEAVY = ("openai", "httpx", "celery", "kombu", "ninja", "pydantic", "redis")


def imported_modules(*argv: str, env: dict[str, str] | None = None) -> set[str]:
    """``sys.modules`` after ``manage.py *argv`` has run in a fresh interpreter.

    Read from the process itself rather than ``-X importtime``, which misses modules loaded through
    ``importlib.import_module`` (as Django loads command modules).
    """
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['manage.py', *{list(argv)!r}]\n"
        "try:\n"
        "    runpy.run_path('manage.py', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', *sorted(sys.modules))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    line = next(line for line in finished.stdout.splitlines() if line.startswith("MODULES "))
    return set(line.split()[1:])


def file_only_env() -> dict[str, str]:
    # As on a machine with no project settings: `rate` must pick its file-only settings itself.
    return {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY")}


def test_rate_help_imports_no_sdk_broker_or_api_framework():
    modules = imported_modules("rate", "--help", env=file_only_env())

    # The probe sees the command's own imports, so an empty result below is not a blind spot.
    assert {"leaderboard.battle_files", "leaderboard.management.commands.rate"} <= modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    # Nor any app's models: the command runs without django.setup() (manage.FILE_ONLY_COMMANDS).
    assert sorted(m for m in modules if m.endswith(".models")) == []


def test_the_provider_registry_imports_a_provider_only_when_it_is_asked_for():
    probe = (
        "import sys, judges.providers as p;"
        "before = 'openai' in sys.modules;"
        "names = p.available();"
        "lexical = p.get_provider('lexical');"
        "middle = 'openai' in sys.modules;"
        "p.get_provider('openai');"
        "print(before, names, middle, 'openai' in sys.modules)"
    )

    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert finished.stdout.split() == ["False", "['lexical',", "'openai']", "False", "True"]


def test_a_clash_with_a_builtin_provider_not_yet_loaded_is_still_refused():
    probe = (
        "import judges.providers as p\n"
        "class Impostor:\n"
        "    name = 'openai'\n"
        "    offline = False\n"
        "    def complete(self, request): ...\n"
        "    def config_errors(self, *, model, base_url): return []\n"
        "try:\n"
        "    p.register(Impostor)\n"
        "except ValueError as error:\n"
        "    print(error)\n"
        "print(type(p.get_provider('openai')).__name__)\n"
    )

    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert "already registered by OpenAICompatProvider" in finished.stdout
    assert finished.stdout.split()[-1] == "OpenAICompatProvider"


def test_django_start_up_still_creates_the_celery_app_that_shared_tasks_bind_to():
    # Web processes and commands: ArenaConfig.ready() creates the app, so `.delay()` goes to the
    # configured broker rather than to Celery's default app.
    probe = (
        "import django; django.setup();"
        "from celery import current_app; from leaderboard.tasks import recompute;"
        "print(current_app.main, recompute.app.main)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "arena.settings"}

    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    assert finished.stdout.split() == ["arena", "arena"]


def test_celery_dash_a_arena_still_finds_the_app():
    # `celery -A arena worker` (docker-compose, tests/support/celery_worker.py) resolves the package name.
    probe = "from celery.app.utils import find_app; print(find_app('arena').main)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "arena.settings"}

    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    assert finished.stdout.strip() == "arena"


def test_installs_compile_bytecode_in_the_venv_and_the_image():
    # Without .pyc files (and with PYTHONDONTWRITEBYTECODE, as in the image) every start recompiles every module.
    sync_lines = [
        line
        for name in ("Makefile", "Dockerfile")
        for line in (ROOT / name).read_text().splitlines()
        if "uv pip sync" in line
    ]
    assert len(sync_lines) == 2 and all("--compile-bytecode" in line for line in sync_lines)
    assert "compileall" in (ROOT / "Dockerfile").read_text()


def test_rate_with_a_bootstrap_on_well_posed_battles_loads_neither_choix_nor_scipy(tmp_path):
    # choix (and the scipy.stats it imports) is most of a second of start-up; well-posed fits, bootstrap
    # included, are Newton in numpy. choix remains for regularised fits only.
    names = ["a", "b", "c"]
    battles = [
        {"model_a": x, "model_b": y, "winner": w}
        for x in names
        for y in names
        if x != y
        for w in ("model_a", "model_b", "tie")
    ]
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(battles))

    modules = imported_modules(
        "rate", str(path), "--format", "fastchat", "--bootstrap", "20", env=file_only_env()
    )

    assert "leaderboard.rating.bt_newton" in modules
    assert sorted(m for m in modules if m.split(".")[0] in ("choix", "scipy")) == []


@pytest.mark.parametrize("bad", [False, True], ids=["good file", "bad file"])
def test_the_file_only_path_answers_as_the_django_path_does(tmp_path, bad):
    path = tmp_path / "battles.json"
    winner = "draw" if bad else "model_a"
    path.write_text(
        json.dumps(
            [
                {"model_a": "a", "model_b": "b", "winner": winner},
                {"model_a": "b", "model_b": "a", "winner": "tie"},
            ]
        )
    )
    command = [sys.executable, "manage.py", "rate", str(path), "--format", "fastchat", "--json"]
    through_django = {**file_only_env(), "DJANGO_SETTINGS_MODULE": "arena.settings_files"}

    direct, django = (
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        for env in (file_only_env(), through_django)
    )

    assert (direct.returncode, direct.stdout, direct.stderr) == (
        django.returncode,
        django.stdout,
        django.stderr,
    )
    assert direct.returncode == (1 if bad else 0)
    assert ("record 1: unknown winner label 'draw'" in direct.stderr) is bad
