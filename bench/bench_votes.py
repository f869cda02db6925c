"""Vote throughput: people's votes per second through gunicorn + PostgreSQL, with concurrent clients. Prints figures.

Run from the repository root (PostgreSQL and Redis as for the tests):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_votes.py [--votes 6000] [--clients 32] [--workers 3] [--threads 4]

What it does: creates a scratch database on the DATABASE_URL server (dropped at the end), migrates it, seeds a
prompt set, contenders with Markdown answers and a voting task, then signed-in annotators with their sessions,
each with a battle already served (an open assignment with its opaque token). It starts gunicorn on a free
port and drives it with keep-alive HTTP/1.1 connections from an asyncio client:

(a) vote POSTs (htmx, CSRF header, session cookie): votes/s sustained and latency;  target ≥ 300/s, p99 < 100 ms
    and every accepted vote stored as a people's verdict (nothing lost, nothing doubled);
(b) the whole round trip a browser makes: load the next battle (htmx fragment, Markdown rendered), then vote.

Rate limits stay on, raised through their settings so this legitimate load is not refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_VOTES_PER_SECOND = 300
TARGET_P99_MS = 100
TOKEN = re.compile(rb'/vote/b/([A-Za-z0-9_-]+)/"')
ANSWER = """## Answer {n}

The short version: **{verdict}**. Here is why, step by step:

1. Restate the question and what is asked.
2. Work it out, checking each intermediate result.
3. Compare with what a careful reader would expect.

| step | value |
|------|------:|
| one  | {n}   |
| two  | {m}   |

```python
def answer(x):
    return x * {n} + {m}
```

> A closing remark from model variant {variant}, kept short.
"""


# --- scratch database and server -------------------------------------------------------------------


def _free_port() -> int:
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


def _server_env(scratch: Scratch, static_root: str) -> dict[str, str]:
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
        "ARENA_VOTE_RATE_PER_MINUTE": "600",
        "ARENA_VOTE_RATE_PER_MINUTE_IP": "10000000",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def _start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "gunicorn", "arena.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
        "-k", "gthread", "--threads", str(threads), "--keep-alive", "60", "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start listening within 30 s")


# --- seeding (Django in this process, on the scratch database) -------------------------------------


@dataclass
class Person:
    cookie: str
    csrf: str
    token: str = ""


_SHARED = ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "STATIC_ROOT", "REDIS_URL")


def _django(env: dict[str, str]) -> None:
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k
            in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "ARENA_REDIS_PREFIX", "STATIC_ROOT")
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    import django

    django.setup()


def _seed_arena(n_prompts: int, n_contenders: int):
    from arena.models import Battle, Contender, Dimension, Output, Prompt, PromptSet
    from arena.services.style import style_counts
    from arena.voting.staff import task_create

    prompt_set = PromptSet.objects.create(slug="bench", name="Bench")
    Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, external_id=f"p{i}", text=f"Question {i}: explain step by step?")
        for i in range(n_prompts)
    )
    contenders = Contender.objects.bulk_create(
        Contender(slug=f"bench-{i}", name=f"Bench Model {i}", status="approved") for i in range(n_contenders)
    )
    rng = random.Random(7)
    outputs = []
    for prompt in prompt_set.prompts.all():
        for variant, contender in enumerate(contenders):
            text = ANSWER.format(
                n=prompt.pk, m=variant, verdict=rng.choice(["yes", "no", "it depends"]), variant=variant
            )
            outputs.append(Output(contender=contender, prompt=prompt, text=text, **style_counts(text)))
    outputs = Output.objects.bulk_create(outputs)
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    battles = []
    for answers in by_prompt.values():
        for i, first in enumerate(answers):
            for second in answers[i + 1 :]:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                battles.append(
                    Battle(
                        prompt_id=a.prompt_id,
                        output_a=a,
                        output_b=b,
                        contender_a_id=a.contender_id,
                        contender_b_id=b.contender_id,
                    )
                )
    battles = Battle.objects.bulk_create(battles)
    prompt_set.vote_dimensions.set(
        Dimension.objects.filter(slug="correctness")
    )  # one optional row, as the demo has
    task = task_create(slug="bench", name="Bench", prompt_set=prompt_set, votes_per_battle=50, gold_rate=0.0)
    return task, battles


def _seed_people(prefix: str, n: int) -> list[tuple[int, Person]]:
    """Signed-in annotators: users, their sessions (as a browser would hold them) and Annotator rows."""
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from arena.models import Annotator

    User = get_user_model()
    users = User.objects.bulk_create(
        User(username=f"{prefix}-{i}", password=make_password(None)) for i in range(n)
    )
    store, expires, people, sessions = SessionStore(), timezone.now() + timedelta(days=1), [], []
    for user in users:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        key, csrf = secrets.token_hex(16), secrets.token_hex(16)
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        people.append((user.pk, Person(cookie=f"sessionid={key}; csrftoken={csrf}", csrf=csrf)))
    Session.objects.bulk_create(sessions)
    Annotator.objects.bulk_create(Annotator(voter_key=f"u:{pk}", user_id=pk) for pk, _ in people)
    return people


def _serve_directly(task, battles, people: list[tuple[int, Person]]) -> None:
    """One open assignment per annotator, as the battle page would have served it half a minute ago."""
    from datetime import timedelta

    from django.utils import timezone

    from arena.models import Annotator, Assignment
    from arena.voting.serving import new_token

    annotators = dict(
        Annotator.objects.filter(user_id__in=[pk for pk, _ in people]).values_list("user_id", "pk")
    )
    served = timezone.now() - timedelta(seconds=30)
    rows = []
    for i, (pk, person) in enumerate(people):
        person.token = new_token()
        rows.append(
            Assignment(
                token=person.token,
                task=task,
                annotator_id=annotators[pk],
                battle=battles[i % len(battles)],
                left_is_a=bool(i % 2),
                served_at=served,
                min_read_ms=8000,
            )
        )
    Assignment.objects.bulk_create(rows, batch_size=2000)


# --- a lean keep-alive HTTP/1.1 client (the client must not be the bottleneck on 2 cores) ----------


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, person: Person, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nCookie: {person.cookie}\r\nX-CSRFToken: {person.csrf}\r\n"
            f"HX-Request: true\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if fields.get("transfer-encoding") == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(fields.get("content-length", 0)))
        if fields.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).strip() or b"0", 16):
            parts.append(await self.reader.readexactly(size + 2))
        await self.reader.readuntil(b"\r\n")
        return b"".join(p[:-2] for p in parts)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: int = 0
    seconds: float = 0.0

    def add(self, status: int, started: float) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.accepted += status == 200

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


CHOICES = [
    b"overall=left",
    b"overall=right",
    b"overall=tie",
    b"overall=left&dim-correctness=left",
    b"overall=both_bad",
]


async def vote_phase(port: int, people: list[Person], clients: int) -> Tally:
    """Every person posts their vote once; `clients` connections share the work."""
    tally, queue = Tally(), asyncio.Queue()
    for person in people:
        queue.put_nowait(person)

    async def client(i: int) -> None:
        conn = Connection(port)
        while not queue.empty():
            person = queue.get_nowait()
            started = time.perf_counter()
            status, _ = await conn.request(
                "POST", f"/vote/b/{person.token}/", person, CHOICES[i % len(CHOICES)]
            )
            tally.add(status, started)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    tally.seconds = time.perf_counter() - started
    return tally


async def round_trip_phase(
    port: int, people: list[Person], seconds: float, task_slug: str
) -> tuple[Tally, Tally]:
    """Each person loads the next battle (htmx fragment) and votes on it, again and again, for `seconds`."""
    serve, vote = Tally(), Tally()
    deadline = time.perf_counter() + seconds

    async def client(i: int, person: Person) -> None:
        conn = Connection(port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, body = await conn.request("GET", f"/vote/t/{task_slug}/?start=1", person)
            serve.add(status, started)
            found = TOKEN.search(body)
            if status != 200 or not found:
                continue
            started = time.perf_counter()
            status, _ = await conn.request(
                "POST", f"/vote/b/{found.group(1).decode()}/", person, CHOICES[i % len(CHOICES)]
            )
            vote.add(status, started)

    started = time.perf_counter()
    await asyncio.gather(*(client(i, p) for i, p in enumerate(people)))
    serve.seconds = vote.seconds = time.perf_counter() - started
    return serve, vote


# --- CPU accounting (the machine may be shared: CPU per vote says what one vote costs, whatever the load) --


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return found


def _postgres_backends(database: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        )
        return [row[0] for row in cursor.fetchall()]


# --- report ---------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_votes(label: str, tally: Tally, stored: int) -> bool:
    rate = tally.accepted / tally.seconds
    p50, p95, p99 = tally.pct(0.50), tally.pct(0.95), tally.pct(0.99)
    ok_rate, ok_p99, ok_stored = (
        rate >= TARGET_VOTES_PER_SECOND,
        p99 < TARGET_P99_MS,
        stored == tally.accepted,
    )
    print(label)
    print(
        f"  throughput             {rate:8.1f} votes/s   ({tally.accepted} accepted in {tally.seconds:.2f} s)   target ≥ {TARGET_VOTES_PER_SECOND}/s   {_verdict(ok_rate)}"
    )
    print(
        f"  latency p50/p95/p99    {p50:6.1f} / {p95:.1f} / {p99:.1f} ms   target p99 < {TARGET_P99_MS} ms   {_verdict(ok_p99)}"
    )
    print(
        f"  accepted vs stored     {tally.accepted} / {stored} verdicts   statuses {tally.statuses}   nothing lost: {_verdict(ok_stored)}"
    )
    return ok_rate and ok_p99 and ok_stored


def report_cpu(cpu: tuple[float, float], votes: int, load: float) -> None:
    app_ms, db_ms = (1000 * seconds / max(votes, 1) for seconds in cpu)
    cores = os.cpu_count() or 1
    print(
        f"  CPU per vote           {app_ms:.2f} ms gunicorn + {db_ms:.2f} ms PostgreSQL   (load average before: {load:.1f} on {cores} CPUs)"
    )
    print(f"  capacity if idle       ≈ {1000 * cores / (app_ms + db_ms):.0f} votes/s on {cores} CPUs")


def report_round_trips(serve: Tally, vote: Tally) -> None:
    print(
        f"Serve + vote round trips (htmx fragment with rendered Markdown, then the vote), {len(serve.latencies_ms)} loads"
    )
    print(
        f"  round trips            {vote.accepted / vote.seconds:8.1f} /s   statuses serve {serve.statuses} vote {vote.statuses}"
    )
    print(f"  serve p50/p99          {serve.pct(0.5):6.1f} / {serve.pct(0.99):.1f} ms")
    print(f"  vote  p50/p99          {vote.pct(0.5):6.1f} / {vote.pct(0.99):.1f} ms")


def _stored_votes() -> int:
    from arena.models import Verdict
    from arena.services.battles import people_source

    return Verdict.objects.filter(source=people_source(), dimension__slug="overall").count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=6000, help="measured vote POSTs (one annotator each)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--round-trip-seconds", type=float, default=8.0)
    parser.add_argument("--round-trip-clients", type=int, default=16)
    args = parser.parse_args()

    scratch = Scratch(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if not scratch.server_url.startswith("postgres"):
        raise SystemExit(
            f"DATABASE_URL must point at a PostgreSQL server (got {scratch.server_url!r}); the bench creates a scratch database there."
        )
    static_root = tempfile.mkdtemp(prefix="arena-bench-static-")
    env = _server_env(scratch, static_root)
    scratch.create()
    server = None
    try:
        print(f"Scratch database {scratch.name}: migrating and seeding ...", flush=True)
        _manage(env, "migrate", "--noinput")
        _manage(env, "collectstatic", "--noinput", "-v0")
        _django(env)
        task, battles = _seed_arena(n_prompts=120, n_contenders=8)
        warm = _seed_people("warm", 400)
        measured = _seed_people("voter", args.votes)
        browsing = _seed_people("browser", args.round_trip_clients)
        _serve_directly(task, battles, warm + measured)
        from django.db import connection

        connection.close()  # the bench process holds no connection while gunicorn works
        port = _free_port()
        server = _start_gunicorn(env, port, args.workers, args.threads)
        print(
            f"gunicorn on 127.0.0.1:{port}: {args.workers} workers × {args.threads} threads; {args.clients} client connections; {os.cpu_count()} CPUs\n",
            flush=True,
        )
        asyncio.run(
            vote_phase(port, [p for _, p in warm], args.clients)
        )  # warm up workers, connections, caches
        before = _stored_votes()
        app_pids, db_pids = [server.pid, *_children(server.pid)], _postgres_backends(scratch.name)
        cpu_before, load_before = (_cpu_seconds(app_pids), _cpu_seconds(db_pids)), os.getloadavg()[0]
        tally = asyncio.run(vote_phase(port, [p for _, p in measured], args.clients))
        cpu = (_cpu_seconds(app_pids) - cpu_before[0], _cpu_seconds(db_pids) - cpu_before[1])
        ok = report_votes(
            f"(a) Vote POSTs: {args.votes} annotators, each voting once on the battle served to them",
            tally,
            _stored_votes() - before,
        )
        report_cpu(cpu, tally.accepted, load_before)
        serve, vote = asyncio.run(
            round_trip_phase(port, [p for _, p in browsing], args.round_trip_seconds, task.slug)
        )
        print()
        report_round_trips(serve, vote)
        return 0 if ok else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        from django.db import connections

        connections.close_all()
        scratch.drop()


if __name__ == "__main__":
    sys.exit(main())
