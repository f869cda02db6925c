"""bench_votes: the scratch PostgreSQL database, the server's environment, gunicorn, and CPU accounting."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


@dataclass
class Scratch:
    server_url: str
    name: str = field(default_factory=lambda: f"arena_bench_votes_{os.getpid()}")

    @property
    def url(self) -> str:
        return _with_database(self.server_url, self.name)

    def create(self) -> None:
        _admin(self.server_url, f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        _admin(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _redis_url() -> str:
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(
            f"Redis at REDIS_URL={url!r} does not answer ({exc}): start Redis or point REDIS_URL at one."
        ) from None
    return url


def server_env(scratch: Scratch, static_root: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": scratch.url,
        "DB_CONN_MAX_AGE": "600",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + secrets.token_urlsafe(24),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
        # Rate limits count in the shared cache: Redis, as in production (a file cache would dominate the figures).
        "REDIS_URL": _redis_url(),
        "ARENA_REDIS_PREFIX": f"benchvotes{os.getpid()}:",
        # Limits stay on; one IP (this client) carries every annotator's load here, so it gets room for all.
        # Each of the 16 browsers of (b) votes up to ~16 times a second: 600 a minute refused some of their
        # votes once the round trips passed ~10 a second each (2026-12-07 #6), so each voter gets 6,000.
        "ARENA_VOTE_RATE_PER_MINUTE": "6000",
        "ARENA_VOTE_RATE_PER_MINUTE_IP": "10000000",
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    """gunicorn on `port`: gthread workers (keep-alive) when threads > 0, else sync workers (one request each)."""
    kind = ["-k", "gthread", "--threads", str(threads)] if threads > 0 else ["-k", "sync"]
    cmd = [
        sys.executable, "-m", "gunicorn", "arena.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), *kind,
        "--keep-alive", "60", "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip
    return listening(subprocess.Popen(cmd, cwd=ROOT, env=env), port, "gunicorn")


def deployed_web() -> tuple[list[str], dict[str, str]]:
    """The web service of docker-compose.yml: its command, and the settings of its environment that are not
    addresses of compose's own services (a bench has its own database and Redis)."""
    import yaml

    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    env = {k: str(v) for k, v in web.get("environment", {}).items() if "://" not in str(v)}
    return list(web["command"]), env


def start_deployed(env: dict[str, str], port: int) -> tuple[subprocess.Popen, str]:
    """The server as compose runs it (`deployed_web`: gunicorn with uvicorn workers, ASGI, its connection
    pool) on `port`, and a line saying what it runs. Its access log goes to stdout, as in compose; nobody
    reads it here."""
    command, deployed_env = deployed_web()
    command[command.index("-b") + 1] = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", *command], cwd=ROOT, env={**env, **deployed_env}, stdout=subprocess.DEVNULL
    )
    return listening(proc, port, "gunicorn"), f"{' '.join(command)} with {deployed_env}"


def listening(proc: subprocess.Popen, port: int, name: str) -> subprocess.Popen:
    """`proc` once something accepts connections on `port` (at most 30 s; else it is killed and the run ends)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{name} did not start listening within 30 s")


# --- CPU accounting (the machine may be shared: CPU per vote says what one vote costs, whatever the load) --


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


class PhaseCpu:
    """User + system CPU of gunicorn (master and workers) and of the scratch database's PostgreSQL backends
    over one phase. Processes alive at the start count from their CPU then; those started during the phase
    (a worker thread's first connection opens a backend) count whole, since all their CPU falls in it. Listing
    the backends only at the start missed those opened later: PostgreSQL's CPU per vote read low (0.00 ms in
    one run on 2026-12-07). A process that exits during the phase loses its share (none do in these benches)."""

    def __init__(self, server_pid: int, database: str):
        self.server_pid, self.database = server_pid, database
        self.start = self._now()

    def _now(self) -> tuple[dict[int, float], dict[int, float]]:
        app = [self.server_pid, *children(self.server_pid)]
        return (
            {pid: cpu_seconds([pid]) for pid in app},
            {pid: cpu_seconds([pid]) for pid in postgres_backends(self.database)},
        )

    def seconds(self) -> tuple[float, float]:
        """(gunicorn, PostgreSQL) CPU seconds since the start."""
        return tuple(  # type: ignore[return-value]
            sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())
            for now, before in zip(self._now(), self.start, strict=True)
        )


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return found


def postgres_backends(database: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        )
        return [row[0] for row in cursor.fetchall()]
