"""Start and stop a real Celery worker process against the test database and the Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The URL of the database pytest-django created, so the worker writes where the test reads."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """`celery -A arena worker` in a subprocess; `start()` returns once the worker says it is ready."""

    def __init__(
        self,
        *,
        queues: str = "celery",
        concurrency: int = 4,
        pool: str = "threads",
        name: str = "w1",
        env: dict | None = None,
        beat: bool = False,
    ):
        self.queues, self.concurrency, self.pool, self.name = queues, concurrency, pool, name
        self.beat = beat
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []
        self._ready = threading.Event()

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        env = {**os.environ, "DATABASE_URL": test_database_url(), "DB_CONN_MAX_AGE": "0", **self.extra_env}
        cmd = [
            sys.executable, "-m", "celery", "-A", "arena", "worker", "-l", "info", "-P", self.pool,
            "-c", str(self.concurrency), "-Q", self.queues, "-n", f"{self.name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if (
            self.beat
        ):  # embedded beat (what `celery beat` runs in production), with a schedule file of its own
            schedule = Path(tempfile.mkdtemp(prefix="arena-beat-")) / "schedule"
            cmd += ["-B", "-s", str(schedule)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("Celery worker did not become ready:\n" + "".join(self.log[-40:]))
        return self

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.log.append(line)
            if " ready." in line:
                self._ready.set()

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to ack, requeue or clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
