"""CPU per vote inside the vote service: `vote_record` called directly, no HTTP. Prints figures.

Run from the repository root (PostgreSQL and Redis as for the tests):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_vote_record.py [--votes 3000] [--rounds 3]

bench_votes.py measures the whole request through gunicorn; this one isolates what the vote service itself
costs (locking the assignment, writing the verdicts through the ledger, closing the assignment), which is
what a change to the verdict ledger or the vote store can move. It seeds a scratch database (dropped at the
end) the way bench_votes does, serves one battle to each annotator, then records their votes one by one:
half with the overall row only, half with the optional "correctness" row as well (two verdicts per vote).

Figures: this process's CPU time per vote (user + system, so a busy machine inflates wall time but not this)
and the PostgreSQL backend's CPU per vote, for each round of fresh annotators; the best round is the one to
compare, the spread says how noisy the machine was.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's packages
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's helper modules

from votes_seed import django_setup, seed_arena, seed_people, serve_directly  # noqa: E402
from votes_server import Scratch, cpu_seconds, manage, server_env  # noqa: E402


def _own_backend() -> list[int]:
    """The PostgreSQL server process serving this process's connection: where its statements spend CPU."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return [cursor.fetchone()[0]]


def _tokens(people) -> list[tuple[int, str]]:
    return [(pk, person.token) for pk, person in people]


class _Statements:
    """Counts the SQL statements run through Django's connection (its public execute_wrapper hook)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _vote_all(served: list[tuple[int, str]]) -> int:
    from django.contrib.auth import get_user_model

    from arena.voting.ballots import Ballot
    from arena.voting.identity import Voter
    from arena.voting.recording import vote_record

    users = get_user_model().objects.in_bulk([pk for pk, _ in served])
    recorded = 0
    for i, (pk, token) in enumerate(served):
        ballot = (
            Ballot(overall="left") if i % 2 else Ballot(overall="right", dimensions={"correctness": "tie"})
        )
        result = vote_record(token=token, voter=Voter(key=f"u:{pk}", user=users[pk]), ballot=ballot)
        recorded += not result.replayed
    return recorded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=3000, help="votes per round (one annotator each)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    scratch = Scratch(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if not scratch.server_url.startswith("postgres"):
        raise SystemExit(f"DATABASE_URL must point at a PostgreSQL server (got {scratch.server_url!r}).")
    static_root = tempfile.mkdtemp(prefix="arena-bench-static-")
    env = server_env(scratch, static_root)
    scratch.create()
    try:
        print(f"Scratch database {scratch.name}: migrating and seeding ...", flush=True)
        manage(env, "migrate", "--noinput")
        django_setup(env)
        task, battles = seed_arena(n_prompts=120, n_contenders=8)
        rounds = [seed_people(f"r{r}", args.votes) for r in range(args.rounds + 1)]
        serve_directly(task, battles, [p for people in rounds for p in people])
        _vote_all(_tokens(rounds[0]))  # warm up: connection, prepared caches, imports
        from django.db import connection

        db_pids = _own_backend()
        print(f"{args.votes} votes a round, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        for r, people in enumerate(rounds[1:], start=1):
            served = _tokens(people)
            statements = _Statements()
            wall, cpu, db = time.perf_counter(), time.process_time(), cpu_seconds(db_pids)
            with connection.execute_wrapper(statements):
                recorded = _vote_all(served)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            db = cpu_seconds(db_pids) - db
            print(
                f"  round {r}: {recorded} votes; app CPU {1000 * cpu / recorded:.3f} ms/vote, "
                f"database CPU {1000 * db / recorded:.3f} ms/vote, wall {1000 * wall / recorded:.3f} ms/vote, "
                f"{statements.count / recorded:.2f} statements/vote"
            )
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        scratch.drop()
        shutil.rmtree(static_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
