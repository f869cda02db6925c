"""Where a served battle and a vote spend their CPU: the whole Django stack in one process, under cProfile.

Run from the repository root (PostgreSQL and Redis as for bench_votes.py):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/profile_votes.py [--requests 400] [--top 40] [--sort tottime]

Seeds a scratch database as bench_votes.py does, then calls the WSGI application directly (every middleware,
the URL resolver, the view, the template) with the requests the bench's round trip makes: load the next
battle as an htmx fragment, then vote on it. Prints the process CPU time per request of each kind (this
process only: add PostgreSQL's share from bench_votes.py) and cProfile's table for each. Not part of
`make bench` (its name does not start with bench_).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from votes_seed import Person, django_setup, seed_arena, seed_people  # noqa: E402
from votes_server import Scratch, manage, server_env  # noqa: E402

TOKEN = re.compile(rb'/vote/b/([A-Za-z0-9_-]+)/"')


def _environ(method: str, path: str, person: Person, body: bytes = b"") -> dict:
    path, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": person.cookie,
        "HTTP_X_CSRFTOKEN": person.csrf,
        "HTTP_HX_REQUEST": "true",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _call(app, environ: dict) -> tuple[str, bytes]:
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def _watched(watcher):
    from contextlib import nullcontext

    from django.db import connection

    return connection.execute_wrapper(watcher) if watcher else nullcontext()


def _round_trips(
    app, people: list[Person], n: int, task_slug: str, serve_prof, vote_prof, serve_sql=None, vote_sql=None
) -> tuple[float, float, int]:
    """n serve + vote round trips spread over `people`; (CPU s serving, CPU s voting, round trips done)."""
    serve_cpu = vote_cpu = 0.0
    done = 0
    for i in range(n):
        person = people[i % len(people)]
        started = time.process_time()
        if serve_prof:
            serve_prof.enable()
        with _watched(serve_sql):
            status, body = _call(app, _environ("GET", f"/vote/t/{task_slug}/?start=1", person))
        if serve_prof:
            serve_prof.disable()
        serve_cpu += time.process_time() - started
        found = TOKEN.search(body)
        if not status.startswith("200") or not found:
            raise SystemExit(f"serve answered {status}: {body[:300]!r}")
        started = time.process_time()
        if vote_prof:
            vote_prof.enable()
        with _watched(vote_sql):
            status, body = _call(
                app,
                _environ(
                    "POST",
                    f"/vote/b/{found.group(1).decode()}/",
                    person,
                    b"overall=left&dim-correctness=right",
                ),
            )
        if vote_prof:
            vote_prof.disable()
        vote_cpu += time.process_time() - started
        if not status.startswith("200"):
            raise SystemExit(f"vote answered {status}: {body[:300]!r}")
        done += 1
    return serve_cpu, vote_cpu, done


class StatementCpu:
    """PostgreSQL backend CPU (/proc/<pid>/schedstat, nanoseconds) and client wall time per SQL statement.

    The backend serving this process's connection is measured around each statement, so the figures say what
    each statement costs PostgreSQL whatever else runs on the machine (other backends are not counted)."""

    def __init__(self) -> None:
        self.by_sql: dict[str, list[float]] = {}

    @staticmethod
    def _runtime_ns(pid: int) -> int:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])

    def __call__(self, execute, sql, params, many, context):
        from django.db import connection

        # Read on every statement (psycopg 3: no statement needed): Django may have opened a new connection
        # since the last one (a failed health check, CONN_MAX_AGE), and the old backend's /proc entry is gone.
        pid = connection.connection.info.backend_pid
        before, started = self._runtime_ns(pid), time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            wall = time.perf_counter() - started
            key = " ".join(sql.split())[:90]
            entry = self.by_sql.setdefault(key, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += (self._runtime_ns(pid) - before) / 1e6
            entry[2] += wall * 1000

    def report(self, title: str, requests: int) -> None:
        print(f"\n===== {title}: PostgreSQL backend CPU and client wall time per request, by statement =====")
        total = sum(cpu for _, cpu, _ in self.by_sql.values())
        print(f"  {total / requests:7.3f} ms PostgreSQL CPU per request in all")
        for sql, (n, cpu, wall) in sorted(self.by_sql.items(), key=lambda item: -item[1][1]):
            print(
                f"  {cpu / requests:7.3f} ms cpu {wall / requests:7.3f} ms wall  {n / requests:4.2f}×  {sql}"
            )
        self.by_sql.clear()


def _area(filename: str) -> str:
    """A coarse owner for a source file: the package under site-packages, or the project's top folder."""
    if "site-packages/" in filename:
        parts = filename.split("site-packages/", 1)[1].split("/")
        return "/".join(parts[:3]) if parts[0] == "django" else parts[0]
    root = str(Path(__file__).resolve().parents[1]) + "/"
    if filename.startswith(root):
        return "/".join(filename[len(root) :].split("/")[:2])
    return "python (stdlib, builtins)"


def _print_areas(stats: pstats.Stats, requests: int) -> None:
    """Own CPU (tottime) summed per area, per request: which layer the time is spent in."""
    areas: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        areas[_area(filename)] = areas.get(_area(filename), 0.0) + tottime
    total = sum(areas.values())
    for area, seconds in sorted(areas.items(), key=lambda item: -item[1])[:15]:
        print(f"  {1000 * seconds / requests:7.2f} ms  {100 * seconds / total:5.1f} %  {area}")


def _print_profile(
    title: str, prof: cProfile.Profile, sort: str, top: int, requests: int, match: str
) -> None:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    print(f"\n===== {title}: own CPU per request by area (profiled, so inflated) =====")
    _print_areas(stats, requests)
    stats.sort_stats(sort).print_stats(*([match] if match else []), top)
    print(f"===== {title} (sorted by {sort}) =====")
    print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="profiled round trips")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--people", type=int, default=16)
    parser.add_argument(
        "--sql", action="store_true", help="also print PostgreSQL's CPU per statement (no profiler meanwhile)"
    )
    parser.add_argument(
        "--match",
        default=r"/(arena|bench)/|middleware|contrib/(sessions|auth)|/template/(loader|response)|shortcuts",
        help="list only functions whose file:line(name) matches this regular expression ('' for all)",
    )
    parser.add_argument(
        "--django-stack",
        action="store_true",
        help="Django's handler for every request (no lean vote path): the before of an A/B",
    )
    args = parser.parse_args()

    scratch = Scratch(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    static_root = tempfile.mkdtemp(prefix="arena-profile-static-")
    env = server_env(scratch, static_root)
    scratch.create()
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "-v0")
        for key in ("ARENA_VOTE_RATE_PER_MINUTE", "ARENA_VOTE_RATE_PER_MINUTE_IP", "REDIS_URL", "LOG_LEVEL"):
            os.environ[key] = env[key]
        django_setup(env)
        task, _battles = seed_arena(n_prompts=120, n_contenders=8)
        people = [p for _, p in seed_people("profiler", args.people)]
        from django.core.wsgi import get_wsgi_application

        from arena.voting.lean_vote import VoteRoutedHandler

        # As gunicorn serves it (arena.wsgi): the vote POST on the lean path, unless --django-stack.
        app = get_wsgi_application() if args.django_stack else VoteRoutedHandler()
        _round_trips(
            app, people, 2 * args.people, task.slug, None, None
        )  # warm: caches, connections, imports
        serve_cpu, vote_cpu, done = _round_trips(app, people, args.requests, task.slug, None, None)
        print(
            f"CPU per request in this process (Django, no profiler), {done} round trips: "
            f"serve {1000 * serve_cpu / done:.2f} ms, vote {1000 * vote_cpu / done:.2f} ms "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        if args.sql:
            serve_sql, vote_sql = StatementCpu(), StatementCpu()
            _round_trips(app, people, args.requests, task.slug, None, None, serve_sql, vote_sql)
            serve_sql.report("serve", args.requests)
            vote_sql.report("vote", args.requests)
        # CPU time, not wall time: waiting on PostgreSQL or Redis is not this process's cost.
        serve_prof, vote_prof = cProfile.Profile(time.process_time), cProfile.Profile(time.process_time)
        _round_trips(app, people, args.requests, task.slug, serve_prof, vote_prof)
        _print_profile(
            "serve: GET /vote/t/<task>/?start=1 (htmx)",
            serve_prof,
            args.sort,
            args.top,
            args.requests,
            args.match,
        )
        _print_profile(
            "vote: POST /vote/b/<token>/ (htmx)", vote_prof, args.sort, args.top, args.requests, args.match
        )
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        scratch.drop()
        shutil.rmtree(static_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
