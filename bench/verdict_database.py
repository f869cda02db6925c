"""A scratch PostgreSQL database full of verdicts, for the end-to-end leaderboard benchmark.

`scratch_database()` creates `arena_bench_<pid>` on the server of DATABASE_URL, points Django at it, migrates,
and drops it afterwards. `verdicts_load()` bulk-loads contenders, prompts, outputs, battles and verdicts with
COPY (psycopg 3 `cursor.copy`), shaped like real human voting: several votes per battle, ties and both-bad
verdicts, a few excluded. Seeded, so every run loads the same rows.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import numpy as np

OUTCOMES = np.array(["a", "b", "tie", "both_bad"])
SCORES = np.array([1.0, 0.0, 0.5, 0.5])


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yield the URL of a new, migrated database; it is dropped (connections closed first) on exit."""
    import psycopg

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        raise RuntimeError("DATABASE_URL must name a PostgreSQL server (scripts/bench.sh provisions one)")
    name = f"arena_bench_{os.getpid()}"
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        os.environ["DATABASE_URL"] = url
        _django_setup()
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        os.environ["DATABASE_URL"] = base
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _django_setup() -> None:
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    django.setup()
    call_command("migrate", verbosity=0)


@dataclass(frozen=True)
class Shape:
    contenders: int = 20
    prompts: int = 1000
    battles_per_prompt: int = 100
    votes_per_battle: int = 10
    tie_rate: float = 0.15
    both_bad_rate: float = 0.05
    excluded_rate: float = 0.01
    seed: int = 20240601

    @property
    def verdicts(self) -> int:
        return self.prompts * self.battles_per_prompt * self.votes_per_battle


def verdicts_load(shape: Shape) -> dict[str, int]:
    """Load an arena of `shape` into the (migrated, empty) database; returns row counts."""
    from django.db import connection

    from arena.models import Dimension
    from arena.services.battles import people_source

    rng = np.random.default_rng(shape.seed)
    source_id, dimension_id = people_source().pk, Dimension.objects.get(slug="overall").pk
    with connection.cursor() as cursor:
        raw = cursor.connection
        _skip_foreign_key_checks(raw)
        contender_ids = _contenders(raw, shape.contenders)
        prompt_ids = _prompts(raw, shape.prompts)
        outputs = _outputs(raw, rng, contender_ids, prompt_ids)
        battles = _battles(raw, rng, shape, contender_ids, prompt_ids, outputs)
        n_verdicts = _verdicts(raw, rng, shape, battles, source_id, dimension_id)
        with raw.cursor() as raw_cursor:
            raw_cursor.execute("SET session_replication_role = DEFAULT")
        # Statistics for the planner, and the visibility map, so autovacuum does not start during the timing.
        cursor.execute("VACUUM ANALYZE")
    return {"contenders": len(contender_ids), "battles": len(battles[0]), "verdicts": n_verdicts}


def battles_load(shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contenders, prompts, outputs and battles of `shape`, without verdicts (callers write their own with
    `rows_copy`); returns the battle ids and each battle's contender ids on side A and side B."""
    from django.db import connection

    rng = np.random.default_rng(shape.seed)
    with connection.cursor() as cursor:
        raw = cursor.connection
        _skip_foreign_key_checks(raw)
        contender_ids = _contenders(raw, shape.contenders)
        prompt_ids = _prompts(raw, shape.prompts)
        outputs = _outputs(raw, rng, contender_ids, prompt_ids)
        battle_ids, a, b = _battles(raw, rng, shape, contender_ids, prompt_ids, outputs)
        with raw.cursor() as raw_cursor:
            raw_cursor.execute("SET session_replication_role = DEFAULT")
    ids = np.asarray(contender_ids)
    return battle_ids, ids[a], ids[b]


def rows_copy(table: str, columns: str, text: str) -> None:
    """COPY tab-separated `text` into `table` (`columns` comma-separated), committed."""
    from django.db import connection

    with connection.cursor() as cursor:
        _copy(cursor.connection, table, columns, text)


def _skip_foreign_key_checks(raw) -> None:
    """The generated rows are consistent by construction, so the load skips the per-row foreign-key triggers
    (a third of the time). Needs a superuser, as on the servers scripts/bench.sh uses; else it is slower."""
    import psycopg

    try:
        with raw.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        raw.rollback()


def _copy(raw, table: str, columns: str, text: str) -> None:
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(text)
    raw.commit()


def _ids(raw, sql: str) -> list[int]:
    with raw.cursor() as cursor:
        return [row[0] for row in cursor.execute(sql).fetchall()]


def _contenders(raw, n: int) -> list[int]:
    rows = "".join(f"bench-{i:03d}\tBench {i}\tBench Labs\tMIT\t\t\t\t\tapproved\tnow\n" for i in range(n))
    columns = "slug, name, organization, license, description, endpoint_url, endpoint_model, endpoint_api_key_env, status, created"
    _copy(raw, "arena_contender", columns, rows)
    return _ids(raw, "SELECT id FROM arena_contender ORDER BY id")


def _prompts(raw, n: int) -> list[int]:
    with raw.cursor() as cursor:
        cursor.execute(
            "INSERT INTO arena_promptset (slug, name, description, created) VALUES ('bench', 'Bench', '', now())"
        )
    set_id = _ids(raw, "SELECT id FROM arena_promptset WHERE slug = 'bench'")[0]
    rows = "".join(f"{set_id}\tq{i}\tQuestion {i}?\t\ten\t\n" for i in range(n))
    _copy(raw, "arena_prompt", "prompt_set_id, external_id, text, category, language, reference_answer", rows)
    return _ids(raw, "SELECT id FROM arena_prompt ORDER BY id")


def _outputs(raw, rng, contender_ids: list[int], prompt_ids: list[int]) -> np.ndarray:
    """outputs[c, p] = output id; each contender has its own habits (length, headers, lists, bold)."""
    n_c, n_p = len(contender_ids), len(prompt_ids)
    habit = rng.uniform(0.5, 2.0, size=(n_c, 1))
    chars = (rng.lognormal(6.5, 0.6, size=(n_c, n_p)) * habit).astype(int) + 1
    headers = rng.poisson(habit * 1.0, size=(n_c, n_p))
    items = rng.poisson(habit * 4.0, size=(n_c, n_p))
    bold = rng.poisson(habit * 2.0, size=(n_c, n_p))
    out = io.StringIO()
    for c, contender in enumerate(contender_ids):
        for p, prompt in enumerate(prompt_ids):
            out.write(
                f"{contender}\t{prompt}\tanswer\t{chars[c, p]}\t{headers[c, p]}\t{items[c, p]}\t{bold[c, p]}\tnow\t\n"
            )
    # identity_leak: empty, no answer names its contender (a CharField with no database default).
    columns = (
        "contender_id, prompt_id, text, n_chars, n_headers, n_list_items, n_bold, created, identity_leak"
    )
    _copy(raw, "arena_output", columns, out.getvalue())
    rows = _rows(raw, "SELECT contender_id, prompt_id, id FROM arena_output")
    index_c = {cid: i for i, cid in enumerate(contender_ids)}
    index_p = {pid: i for i, pid in enumerate(prompt_ids)}
    outputs = np.zeros((n_c, n_p), dtype=np.int64)
    for contender, prompt, output in rows:
        outputs[index_c[contender], index_p[prompt]] = output
    return outputs


def _rows(raw, sql: str) -> list[tuple]:
    with raw.cursor() as cursor:
        return cursor.execute(sql).fetchall()


def _battles(
    raw, rng, shape: Shape, contender_ids, prompt_ids, outputs
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(battle ids, side A contender index, side B contender index): distinct pairs per prompt, random sides."""
    pairs = np.array([(i, j) for i in range(shape.contenders) for j in range(i + 1, shape.contenders)])
    a_idx, b_idx, p_idx = [], [], []
    for p in range(len(prompt_ids)):
        chosen = pairs[rng.choice(len(pairs), size=min(shape.battles_per_prompt, len(pairs)), replace=False)]
        flip = rng.random(len(chosen)) < 0.5
        a_idx.append(np.where(flip, chosen[:, 1], chosen[:, 0]))
        b_idx.append(np.where(flip, chosen[:, 0], chosen[:, 1]))
        p_idx.append(np.full(len(chosen), p))
    a, b, p = np.concatenate(a_idx), np.concatenate(b_idx), np.concatenate(p_idx)
    ids = np.asarray(contender_ids)
    prompts = np.asarray(prompt_ids)
    lines = (
        f"{prompts[pi]}\t{outputs[ai, pi]}\t{outputs[bi, pi]}\t{ids[ai]}\t{ids[bi]}\tnow\n"
        for ai, bi, pi in zip(a.tolist(), b.tolist(), p.tolist(), strict=True)
    )
    _copy(
        raw,
        "arena_battle",
        "prompt_id, output_a_id, output_b_id, contender_a_id, contender_b_id, created",
        "".join(lines),
    )
    battle_ids = np.array(_ids(raw, "SELECT id FROM arena_battle ORDER BY id"))
    return battle_ids, a, b


def _verdicts(raw, rng, shape: Shape, battles, source_id: int, dimension_id: int) -> int:
    battle_ids, a, b = battles
    strengths = rng.normal(0.0, 1.0, shape.contenders)
    votes = shape.votes_per_battle
    battle = np.repeat(np.arange(len(battle_ids)), votes)
    p_a = 1.0 / (1.0 + np.exp(strengths[b[battle]] - strengths[a[battle]]))
    draw = rng.random(len(battle))
    outcome = np.where(draw < shape.tie_rate, 2, np.where(draw < shape.tie_rate + shape.both_bad_rate, 3, -1))
    decided = outcome < 0
    outcome[decided] = np.where(rng.random(decided.sum()) < p_a[decided], 0, 1)
    excluded = np.where(rng.random(len(battle)) < shape.excluded_rate, "t", "f")
    voter = np.tile(np.arange(votes), len(battle_ids))
    contender_ids = np.asarray(_ids(raw, "SELECT id FROM arena_contender ORDER BY id"))
    columns = zip(
        battle_ids[battle].tolist(),
        contender_ids[a[battle]].tolist(),
        contender_ids[b[battle]].tolist(),
        voter.tolist(),
        OUTCOMES[outcome].tolist(),
        SCORES[outcome].tolist(),
        excluded.tolist(),
        strict=True,
    )
    text = "".join(
        f"{bt}\t{dimension_id}\t{source_id}\t{ca}\t{cb}\ts:v{v}\t{o}\t{s}\tf\t{x}\tnow\n"
        for bt, ca, cb, v, o, s, x in columns
    )
    fields = "battle_id, dimension_id, source_id, contender_a_id, contender_b_id, voter_key, outcome, score, inconsistent, excluded, created"
    _copy(raw, "arena_verdict", fields, text)
    return len(battle)


def categories_assign(n_categories: int) -> None:
    """Spread the prompts over `n_categories` categories (round robin), so category leaderboards exist."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE arena_prompt SET category = 'cat' || (id % {n_categories})")
        cursor.execute("ANALYZE arena_prompt")
