"""What the leaderboard page needs to know before it can serve a cached board, read in one round trip.

The page's board is cached under a key naming everything the board shows that can change (see
`leaderboard.views._board_html`): the latest finished run, the running one, and the names the board prints
(approved contenders, dimensions and their order, sources). The page's status box needs the runs and the
recompute state row as well. Read through the ORM that was ten queries and about 3 ms of CPU per page (query
compiling, mostly), more than the rest of a cached page together; on PostgreSQL it is one statement here,
with the names reduced to digests by the server. Other databases (SQLite in the demo) read the same through
the ORM: the digests differ from PostgreSQL's, which only means other cache keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import connection

from arena.models import Contender, Dimension, Source
from arena.sql_rows import fetch_one_as
from leaderboard.board_query import runs_finished
from leaderboard.models import RecomputeRun, RecomputeState

# What a board shows of each approved contender (its rows, links and the not-ranked list).
CONTENDER_SHOWN = ("pk", "slug", "name", "organization", "license")
# Of each dimension: the tabs (in their order), the default dimension, the parse of `dimension=`.
DIMENSION_SHOWN = ("pk", "slug", "name", "is_active", "position")
SOURCE_SHOWN = ("key", "name", "kind")
# Of the latest finished run: its number, and its time for the status box's "new leaderboard computed".
LATEST_SHOWN = ["id", "finished"]
# Of the running run: what the page's status line and the board's meta line print.
RUNNING_SHOWN = ["id", "status", "started", "n_boards", "n_fitted"]


@dataclass(frozen=True)
class BoardState:
    latest: RecomputeRun | None
    running: RecomputeRun | None
    # The recompute state row (None before the first recompute request created it).
    recompute: RecomputeState | None
    # A digest of the names the board prints; any change to them gives another.
    names: str


def board_state_read() -> BoardState:
    if connection.vendor == "postgresql":
        return _read_postgresql()
    return board_state_read_orm()


def board_state_read_orm() -> BoardState:
    """The same through the ORM (any database): the reference the PostgreSQL statement is tested against."""
    names = (
        list(
            Contender.objects.filter(status=Contender.Status.APPROVED)
            .order_by("pk")
            .values_list(*CONTENDER_SHOWN)
        ),
        list(Dimension.objects.order_by("pk").values_list(*DIMENSION_SHOWN)),
        list(Source.objects.order_by("key").values_list(*SOURCE_SHOWN)),
    )
    return BoardState(
        latest=runs_finished().only(*LATEST_SHOWN).first(),
        running=RecomputeRun.objects.filter(status=RecomputeRun.Status.RUNNING)
        .order_by("-started")
        .only(*RUNNING_SHOWN)
        .first(),
        recompute=RecomputeState.objects.filter(pk=1).first(),
        names=hashlib.sha256(repr(names).encode()).hexdigest(),
    )


# Row constructors render each row unambiguously as text (quoted where needed), so the joined rows cannot
# run into each other; an empty table is '-', so the three digests keep their places. Runs are ordered as
# `runs_finished` and `run_running` order them.
_CONTENDER, _DIMENSION, _SOURCE = (m._meta.db_table for m in (Contender, Dimension, Source))
_RUN, _STATE = RecomputeRun._meta.db_table, RecomputeState._meta.db_table
_STATEMENT = f"""
SELECT latest.id AS latest_id, latest.finished AS latest_finished,
       running.id AS running_id, running.started AS running_started,
       running.n_boards AS running_n_boards, running.n_fitted AS running_n_fitted,
       state.id AS state_id, state.holder AS state_holder, state.lease_until AS state_lease_until,
       state.queued_at AS state_queued_at,
       concat_ws(':',
         coalesce((SELECT encode(sha256(convert_to(string_agg(ROW(c.id, c.slug, c.name, c.organization, c.license)::text, ','
                                         ORDER BY c.id), 'UTF8')), 'hex')
                     FROM {_CONTENDER} c WHERE c.status = %(approved)s), '-'),
         coalesce((SELECT encode(sha256(convert_to(string_agg(ROW(d.id, d.slug, d.name, d.is_active, d.position)::text, ','
                                         ORDER BY d.id), 'UTF8')), 'hex')
                     FROM {_DIMENSION} d), '-'),
         coalesce((SELECT encode(sha256(convert_to(string_agg(ROW(s.key, s.name, s.kind)::text, ',' ORDER BY s.key), 'UTF8')), 'hex')
                     FROM {_SOURCE} s), '-')
       ) AS names
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
  SELECT r.id, r.finished FROM {_RUN} r WHERE r.status = %(done)s ORDER BY r.finished DESC, r.id DESC LIMIT 1
) AS latest ON true
LEFT JOIN LATERAL (
  SELECT r.id, r.started, r.n_boards, r.n_fitted FROM {_RUN} r WHERE r.status = %(running)s
  ORDER BY r.started DESC LIMIT 1
) AS running ON true
LEFT JOIN {_STATE} AS state ON state.id = 1
"""
_PARAMS = {
    "approved": Contender.Status.APPROVED,
    "done": RecomputeRun.Status.DONE,
    "running": RecomputeRun.Status.RUNNING,
}


@dataclass(frozen=True)
class _Row:
    latest_id: int | None
    latest_finished: object
    running_id: int | None
    running_started: object
    running_n_boards: int | None
    running_n_fitted: int | None
    state_id: int | None
    state_holder: str | None
    state_lease_until: object
    state_queued_at: object
    names: str


def _read_postgresql() -> BoardState:
    with connection.cursor() as cursor:
        cursor.execute(_STATEMENT, _PARAMS)
        row = fetch_one_as(cursor, _Row)
    assert row is not None  # one row always: the joins are outer joins on a one-row table
    # Model instances with only the fields read: another field, if a template asked for one, is read lazily
    # (a query) rather than shown wrong.
    latest = (
        RecomputeRun.from_db(connection.alias, LATEST_SHOWN, [row.latest_id, row.latest_finished])
        if row.latest_id
        else None
    )
    running = (
        RecomputeRun.from_db(
            connection.alias,
            RUNNING_SHOWN,
            [
                row.running_id,
                RecomputeRun.Status.RUNNING,
                row.running_started,
                row.running_n_boards,
                row.running_n_fitted,
            ],
        )  # fmt: skip
        if row.running_id
        else None
    )
    recompute = (
        RecomputeState.from_db(
            connection.alias,
            ["id", "holder", "lease_until", "queued_at"],
            [row.state_id, row.state_holder, row.state_lease_until, row.state_queued_at],
        )
        if row.state_id
        else None
    )
    return BoardState(latest=latest, running=running, recompute=recompute, names=row.names)
