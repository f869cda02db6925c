"""`make demo` as people run it: a busy port is reported (never silently swapped), Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _demo_env(var_dir: Path) -> dict[str, str]:
    """The demo's own environment: SQLite and the filesystem broker under `var_dir`, never the test services."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DEBUG="1", ARENA_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="arena.settings")
    env.pop("DEMO_PORT", None)
    return env


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _port_is_bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_busy_port_is_reported_with_what_to_do_and_nothing_is_set_up(tmp_path):
    with _listening_socket() as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT, env=_demo_env(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "DEMO_PORT=9000 make demo" in result.stderr and "--port 0" in result.stderr
    assert "running at" not in result.stdout
    assert not (tmp_path / "arena.sqlite3").exists()  # reported before migrating or loading anything


def _descendants(root_pid: int) -> set[int]:
    """Every live process below `root_pid`, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.worker
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc (Linux)")
def test_ctrl_c_stops_the_web_server_the_worker_and_all_their_processes(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The serving part of `manage.py demo` (the data set-up before it is covered by the demo data tests).
    code = (
        "import django; django.setup(); from arena.management.commands.demo import Command; "
        f"Command().serve({port}, 'pw')"
    )
    # A session of its own, like a terminal's foreground job: Ctrl-C is SIGINT to that whole process group.
    demo = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=_demo_env(tmp_path), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 90, "the demo's web server")
        # gunicorn's two workers and the Celery worker's children are up too
        _wait_until(lambda: len(_descendants(demo.pid)) >= 4, 60, "the demo's worker processes")
        started = _descendants(demo.pid)
        os.killpg(demo.pid, signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert re.search(rf"running at http://127\.0\.0\.1:{port}/", output)
    assert "Stopping the demo" in output
    _wait_until(lambda: not [pid for pid in started if _alive(pid)], 10, "every demo process to exit")
    assert _port_is_bindable(port) and not _answers(f"http://127.0.0.1:{port}/healthz")


@pytest.mark.worker
def test_the_demo_prepares_its_arena_on_the_embedded_sqlite_database(tmp_path):
    """The whole set-up as `make demo` runs it on a fresh machine (SQLite, not the test's PostgreSQL): every
    step, the recompute included, and a fitted board of the voted live battles."""
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve"],
        cwd=ROOT, env=_demo_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"Demo live battles: \d+ voted", result.stdout), result.stdout
    with sqlite3.connect(tmp_path / "arena.sqlite3") as database:
        boards = database.execute(
            "SELECT status, n_verdicts FROM leaderboard_snapshot WHERE category = 'live' AND source_key = 'people'"
        ).fetchall()
    assert boards and all(status == "ok" and n > 0 for status, n in boards), boards
