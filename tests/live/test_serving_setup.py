"""How the web service is set up for streams: a connection pool per web process when DB_POOL_MAX_SIZE says so,
and the live bench starting compose's own web command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "from django.conf import settings; d = settings.DATABASES['default']; "
    "import json; print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), 'age': d['CONN_MAX_AGE']}))"
)


def _database_settings(**env: str) -> dict:
    environment = {
        "PATH": os.environ["PATH"],
        "SECRET_KEY": "test-only",
        "DJANGO_SETTINGS_MODULE": "arena.settings",
    }
    environment.update(env)
    code = f"import django; django.setup(); {READ}"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_pool_size_gives_postgresql_a_pool_and_no_persistent_connections():
    url = "postgres://arena@db.invalid:5432/arena"  # never connected to: settings only
    pooled = _database_settings(DATABASE_URL=url, DB_POOL_MAX_SIZE="8", DB_CONN_MAX_AGE="60")
    assert pooled["pool"]["max_size"] == 8 and pooled["age"] == 0
    plain = _database_settings(DATABASE_URL=url, DB_CONN_MAX_AGE="60")
    assert plain["pool"] is None and plain["age"] == 60


def test_the_live_bench_and_bench_votes_asgi_run_the_web_service_of_compose():
    sys.path.insert(0, str(ROOT))
    from bench.votes_server import deployed_web as _deployed_web  # bench_live_streams and --asgi use it

    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    command, env = _deployed_web()
    assert command == web["command"] and command[0] == "gunicorn"
    assert env["DB_POOL_MAX_SIZE"] == str(web["environment"]["DB_POOL_MAX_SIZE"])
    assert not any("://" in value for value in env.values())  # compose's own service addresses stay out
