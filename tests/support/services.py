"""Throwaway servers for fault tests: Redis, PostgreSQL and the web app, each a real process on a free
loopback port that the test may kill, stop and restart. The machine's own PostgreSQL (5432) and Redis (6379)
are never touched: these are started from scratch inside the test and removed afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.support.celery_worker import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """`redis-server` without persistence on a free port: `kill()` loses every key, as a crash would."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            pytest.skip("redis-server is not installed (make test installs it when it provisions Redis)")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: port_open(self.port), 10, f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        _wait(lambda: not port_open(self.port), 10, "the killed redis-server to close its port")

    def stop(self) -> None:
        self.kill()


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        pytest.skip("PostgreSQL server binaries are not installed under /usr/lib/postgresql/*/bin")
    return Path(found[-1])


class PostgresServer:
    """A PostgreSQL cluster of its own (initdb, pg_ctl) on a free port, as scripts/services.sh starts one."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="arena-fault-pg-"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.data.mkdir()
        self._run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.data, "postgres")
            shutil.chown(self.dir, "postgres")
            self._run_as = ["runuser", "-u", "postgres", "--"]

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._run_as, str(self.bin / tool), *args], check=True, capture_output=True, timeout=60
        )

    def init(self) -> PostgresServer:
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -F"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def clone(self, source_url: str, dbname: str) -> str:
        """A copy of `source_url`'s schema and rows (the migrated test database) as `dbname`; its URL."""
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", dbname)
        dump = subprocess.run(
            [str(self.bin / "pg_dump"), "--no-owner", "--no-privileges", "-d", source_url],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        subprocess.run(
            [str(self.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(dbname)],
            input=dump.stdout, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return self.url(dbname)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class WebServer:
    """The app under gunicorn (as deployed: DEBUG off), with the environment given; `start()` returns once
    /healthz answers."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "*", "SESSION_COOKIE_SECURE": "0",
                    "CSRF_COOKIE_SECURE": "0", **env}  # fmt: skip
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="arena-fault-web-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> WebServer:
        cmd = [sys.executable, "-m", "gunicorn", "arena.wsgi:application", "-b", f"127.0.0.1:{self.port}",
               "-w", "1", "--threads", "4", "--timeout", "30"]  # fmt: skip
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError("gunicorn exited:\n" + self.log())
            return port_open(self.port)

        _wait(up, timeout, "gunicorn to listen")
        # The first request loads the URL conf and every view: make it here, not in the test's first step.
        _wait(self._healthy, timeout, "/healthz to answer 200")
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.base_url + "/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log_path.unlink(missing_ok=True)
