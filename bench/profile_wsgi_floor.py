"""The WSGI server's own CPU per request: a trivial application (`wsgi_floor_app.py`) under the server and
flags `bench_votes.py` uses, driven by the same client, so a vote's gunicorn CPU can be split into the
server's floor and the application's work. Prints requests/s and CPU per request of the server processes
and of the client. Not part of `make bench` (its name does not start with bench_).

    .venv/bin/python bench/profile_wsgi_floor.py [--requests 20000] [--clients 12] [--workers 3] [--threads 2]
        [--server gunicorn|granian] [--python PATH]

`--server granian` needs granian importable by `--python` (e.g. a scratch venv: the project does not depend on
it); its workers × threads map to `--workers` and `--blocking-threads`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from votes_client import vote_phase  # noqa: E402
from votes_seed import Person  # noqa: E402
from votes_server import children, cpu_seconds, free_port, listening  # noqa: E402

HERE = Path(__file__).resolve().parent


def _command(args: argparse.Namespace, port: int) -> list[str]:
    if args.server == "gunicorn":
        kind = ["-k", "gthread", "--threads", str(args.threads)] if args.threads > 0 else ["-k", "sync"]
        return [
            args.python, "-m", "gunicorn", "wsgi_floor_app:application", "-b", f"127.0.0.1:{port}",
            "-w", str(args.workers), *kind, "--keep-alive", "60", "--backlog", "2048", "--log-level", "warning",
        ]  # fmt: skip
    return [
        args.python, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(args.workers), "--blocking-threads", str(max(args.threads, 1)), "--log-level", "warning",
        "--no-ws", "wsgi_floor_app:application",
    ]  # fmt: skip


def _started(cmd: list[str], port: int) -> subprocess.Popen:
    return listening(subprocess.Popen(cmd, cwd=HERE), port, cmd[2])


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the server")
    args = parser.parse_args()

    # The same request as a vote (cookie, CSRF header, htmx, a ballot body); the token only shapes the path.
    cookie = "csrftoken=" + "c" * 32 + "; sessionid=" + "s" * 32
    people = [Person(cookie=cookie, csrf="t" * 64, token=f"tok{i:08d}") for i in range(args.requests)]
    port = free_port()
    server = _started(_command(args, port), port)
    try:
        asyncio.run(vote_phase(port, people[:2000], args.clients))  # warm: workers, connections
        pids = _tree(server.pid)
        before, load = {pid: cpu_seconds([pid]) for pid in pids}, os.getloadavg()[0]
        client_before = time.process_time()
        tally = asyncio.run(vote_phase(port, people, args.clients))
        server_s = sum(cpu_seconds([pid]) - before.get(pid, 0.0) for pid in _tree(server.pid))
        client_s = time.process_time() - client_before
        n = max(tally.accepted, 1)
        print(
            f"{args.server} {args.workers} workers × {args.threads} threads, {args.clients} connections: "
            f"{tally.accepted / tally.seconds:.0f} requests/s, p50/p99 {tally.pct(0.5):.1f}/{tally.pct(0.99):.1f} ms, "
            f"statuses {tally.statuses}"
        )
        print(
            f"  CPU per request: server {1000 * server_s / n:.3f} ms, client {1000 * client_s / n:.3f} ms "
            f"(load average before: {load:.1f}, after: {os.getloadavg()[0]:.1f})"
        )
        return 0
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    sys.exit(main())
