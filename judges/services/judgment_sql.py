"""The statements every judge call runs, written once in plain SQL (see `judges.services.sql` for why).

The claim and the settle are the work protocol's own statements (`judges.services.work_protocol`); here they
are only wrapped: the claim together with the first paid call's ledger row, in one round trip, and the
settle with a look at the battle's other order, so the second order to finish needs no further read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from arena.models import Battle, Output, Prompt
from arena.services.verdicts import VerdictEntry, verdicts_insert_statement
from judges.models import Campaign, FinalVerdict, Judgment, PaidCall, WorkStatus
from judges.services.sql import db_column, db_table, db_value, sql_run
from judges.services.work_protocol import claim_statement, settle_statement

_J, _C = db_table(Judgment), db_table(Campaign)
_B, _P, _O = db_table(Battle), db_table(Prompt), db_table(Output)


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class JudgmentRow:
    """One judgment and the battle texts it needs."""

    pk: int
    status: str
    campaign_id: int
    battle_id: int
    config_version_id: int
    order: str
    attempts: int
    content_key: str
    contender_a_id: int
    contender_b_id: int
    question: str
    reference: str
    output_a: str
    output_b: str
    reusable_id: int | None  # a finished judgment that sent exactly this request, if any
    # A conversation's rest (JSON lists; empty for a single-turn battle) and its system message.
    later_turns: list[str] = dataclasses.field(default_factory=list)
    system_message: str = ""
    later_a: list[str] = dataclasses.field(default_factory=list)
    later_b: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        # SQLite hands JSON columns back as text, PostgreSQL as lists.
        for name in ("later_turns", "later_a", "later_b"):
            object.__setattr__(self, name, _json(getattr(self, name)) or [])

    @property
    def battle(self) -> Battle:
        """The battle's keys, all `verdict_record` needs: no query for the rest of it."""
        return Battle(
            pk=self.battle_id, contender_a_id=self.contender_a_id, contender_b_id=self.contender_b_id
        )


_LOAD = f"""
SELECT j.id AS pk, j.status, j.campaign_id, j.battle_id, j.config_version_id, j."order", j.attempts,
       j.content_key, b.contender_a_id, b.contender_b_id, p.text AS question, p.reference_answer AS reference,
       oa.text AS output_a, ob.text AS output_b,
       (SELECT r.id FROM {_J} r WHERE r.content_key = j.content_key AND r.status = 'done' AND r.id <> j.id
        LIMIT 1) AS reusable_id,
       p.later_turns, p.system_message, oa.later_replies AS later_a, ob.later_replies AS later_b
FROM {_J} j
JOIN {_B} b ON b.id = j.battle_id
JOIN {_P} p ON p.id = b.prompt_id
JOIN {_O} oa ON oa.id = b.output_a_id
JOIN {_O} ob ON ob.id = b.output_b_id
WHERE """  # noqa: S608 (table names are ours, values are parameters)


def judgment_load(pk: int) -> JudgmentRow | None:
    row = sql_run(_LOAD + "j.id = %s", [pk]).one()
    return JudgmentRow(**row._asdict()) if row is not None else None


def judgment_load_many(pks: list[int]) -> dict[int, JudgmentRow]:
    """`judgment_load` for several rows, in one statement; rows that do not exist are left out."""
    if not pks:
        return {}
    if connection.vendor == "postgresql":  # one array parameter: one prepared statement for any length
        rows = sql_run(_LOAD + "j.id = ANY(%s)", [list(pks)]).rows
    else:
        rows = sql_run(_LOAD + f"j.id IN ({', '.join(['%s'] * len(pks))})", list(pks)).rows
    return {row.pk: JudgmentRow(**row._asdict()) for row in rows}


_PC = db_table(PaidCall)
_CALL_COLUMNS = "campaign_id, item_id, claim_token, outcome, sent_at, tokens_in, tokens_out, cost"
_TWIN = f"SELECT r.id FROM {_J} r WHERE r.content_key = %s AND r.status = 'done' AND r.id <> %s LIMIT 1"  # noqa: S608
# The twin is looked for in the claim's own snapshot: a request answered by another worker since the row was
# loaded (a batch loads its rows long before their turn) is reused, and no ledger row is written for it.
_CLAIM_AND_SEND = f"""
WITH claimed AS ({{claim}}), twin AS ({_TWIN}),
sent AS (INSERT INTO {_PC} ({_CALL_COLUMNS})
         SELECT campaign_id, id, %s, 'sent', %s, 0, 0, %s FROM claimed WHERE NOT EXISTS (SELECT 1 FROM twin)
         RETURNING id)
SELECT (SELECT id FROM sent) AS call_id, (SELECT id FROM twin) AS twin_id FROM claimed"""  # noqa: S608


@dataclass(frozen=True)
class Claimed:
    """A claim that landed: the ledger row written for its call, or the finished twin to copy instead."""

    call_id: int | None
    twin_id: int | None = None


def judgment_claim_recording_call(
    pk: int, token: uuid.UUID, lease_s: float, *, content_key: str
) -> Claimed | None:
    """Claim the row and, unless a judgment that sent the same request (`content_key`) is done by now, write
    the ledger row of the call about to be sent, together (PostgreSQL: one statement, so both or neither);
    None when the claim did not land."""
    claim = claim_statement(Judgment, pk=pk, token=token, lease_s=lease_s)
    if connection.vendor != "postgresql":  # SQLite has no data-modifying WITH: three statements
        claimed = sql_run(*claim).one()
        if claimed is None:
            return None
        twin = sql_run(_TWIN, [content_key, pk]).one()
        if twin is not None:
            return Claimed(call_id=None, twin_id=twin.id)
        return Claimed(call_id=paid_call_sent(claimed.campaign_id, pk, token))
    params = [*claim.params, content_key, pk, *_call_sent_params(token)]
    row = sql_run(_CLAIM_AND_SEND.format(claim=claim.sql), params).one()
    return Claimed(call_id=row.call_id, twin_id=row.twin_id) if row is not None else None


@dataclass(frozen=True)
class OtherOrder:
    """The battle's other order for the same judge version, as the settle statement saw it."""

    pk: int
    order: str
    status: str
    verdicts: dict | None


_OTHER_ROW = f"""(SELECT o.{{column}} FROM {_J} o WHERE o.battle_id = {_J}.battle_id
    AND o.config_version_id = {_J}.config_version_id AND o.id <> {_J}.id) AS other_{{column}}"""  # noqa: S608
# A correlated subquery per column: RETURNING takes no join, and a battle may lack its other order.
_OTHER = ' RETURNING "order", ' + ", ".join(_OTHER_ROW.format(column=c) for c in ("id", "status", "verdicts"))

_EMPTY_RESULT = {"raw_text": "", "repair_raw_text": "", "raw_response": None, "verdicts": None, "rationale": "",
                 "parse_error": "", "error": "", "error_kind": "", "latency_ms": None, "reused_from": None}  # fmt: skip


@dataclass(frozen=True)
class Finished:
    landed: bool
    other: OtherOrder | None = None  # None: not landed, or the battle has one order only


def judgment_finish(
    pk: int,
    token: uuid.UUID,
    *,
    status: str,
    spent: dict | None = None,
    call_end: CallEnd | None = None,
    **fields,
) -> Finished:
    """running → done / parse_failed, only while `token` still holds the claim. Unlisted result fields
    are reset to their empty value; `spent` adds to what earlier attempts spent. The other order is what
    this statement saw: committed before it started, or not yet (then read it again after this commit).

    `call_end`: the completion of the call whose answer this is, written by the same statement (PostgreSQL;
    elsewhere just before it) whether or not the settle lands: the call was paid either way."""
    values = {**_EMPTY_RESULT, **fields}
    settle = settle_statement(Judgment, pk=pk, token=token, status=status, fields=values, spent=spent or {})
    sql, params = settle.sql + _OTHER, settle.params
    if call_end is not None and connection.vendor == "postgresql":
        # A data-modifying WITH runs to its end even though the settle does not read it.
        sql, params = f"WITH ended AS ({_CALL_ENDED}) {sql}", [*_call_ended_params(call_end), *params]
    elif call_end is not None:
        paid_call_ended(call_end.call_id, **call_end.values())
    row = sql_run(sql, params).one()
    if row is None:
        return Finished(landed=False)
    if row.other_id is None:
        return Finished(landed=True)
    other_order = Judgment.Order.SWAPPED if row.order == Judgment.Order.SHOWN else Judgment.Order.SHOWN
    return Finished(True, OtherOrder(row.other_id, other_order, row.other_status, _json(row.other_verdicts)))


_PAIR = f"""SELECT "order", id, status, verdicts FROM {_J} WHERE battle_id = %s AND config_version_id = %s"""  # noqa: S608


def judgment_pair(battle_id: int, version_id: int) -> dict[str, tuple[int, str, dict | None]]:
    """Both orders of a battle for one judge version: {order: (id, status, verdicts)}."""
    rows = sql_run(_PAIR, [battle_id, version_id]).rows
    return {row.order: (row.id, row.status, _json(row.verdicts)) for row in rows}


_REUSABLE = f"""
SELECT id, reused_from_id, verdicts, rationale, raw_text, repair_raw_text, raw_response FROM {_J} WHERE id = %s"""  # noqa: S608


def judgment_reusable(pk: int) -> dict:
    """The stored result of a finished judgment (found by `judgment_load`), to copy instead of a new call."""
    row = sql_run(_REUSABLE, [pk]).rows[0]
    return {"origin": row.reused_from_id or row.id, "verdicts": _json(row.verdicts), "rationale": row.rationale,
            "raw_text": row.raw_text, "repair_raw_text": row.repair_raw_text,
            "raw_response": _json(row.raw_response)}  # fmt: skip


_ACTIVE = f"SELECT 1 AS active FROM {_J} WHERE campaign_id = %s AND status IN (%s, %s) LIMIT 1"  # noqa: S608


def campaign_has_active_judgments(campaign_id: int) -> bool:
    return bool(sql_run(_ACTIVE, [campaign_id, WorkStatus.PENDING.value, WorkStatus.RUNNING.value]).rows)


_FV = db_table(FinalVerdict)
_FV_FIELDS = ("battle", "dimension", "config_version", "campaign", "outcome", "inconsistent", "shown", "swapped",
              "verdict", "created")  # fmt: skip
_FV_COLUMNS = [db_column(FinalVerdict, name) for name in _FV_FIELDS]
_FV_ROW = f"({', '.join(['%s'] * len(_FV_FIELDS))})"


def _final_sql(rows: int) -> str:
    values = ", ".join([_FV_ROW] * rows)
    return (
        f"INSERT INTO {_FV} ({', '.join(_FV_COLUMNS)}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({', '.join(_FV_COLUMNS[:3])}) DO NOTHING"
    )


def final_verdict_insert(final: FinalVerdict) -> None:
    """Insert, or do nothing if this (battle, dimension, version) was settled already. If another version
    of the config took the arena verdict meanwhile (the unique `verdict` refuses a second owner), the row
    is stored without it."""
    final.created = timezone.now()
    try:
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            sql_run(_final_sql(1), _final_params(final))
    except IntegrityError:
        final.verdict = None
        sql_run(_final_sql(1), _final_params(final))


def final_verdicts_insert(finals: list[FinalVerdict]) -> None:
    """`final_verdict_insert` for a battle's dimensions, in one statement (one per dimension before). If
    any row's arena verdict is owned elsewhere, the statement is refused as a whole and each row goes in
    on its own, as `final_verdict_insert` stores it."""
    if len(finals) < 2:
        for final in finals:
            final_verdict_insert(final)
        return
    now = timezone.now()
    for final in finals:
        final.created = now
    try:
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            sql_run(_final_sql(len(finals)), [value for final in finals for value in _final_params(final)])
    except IntegrityError:
        for final in finals:
            final_verdict_insert(final)


def battle_verdicts_insert(entries: list[VerdictEntry], finals: list[FinalVerdict]) -> bool:
    """A settled battle's arena verdicts (`entries`) and the final verdicts that own them (`finals`, the same
    dimensions in the same order), in one statement on PostgreSQL: one round trip and one commit instead of a
    transaction for the arena verdicts (BEGIN, INSERT, COMMIT) and one for the final verdicts.

    True when the statement created every arena verdict, so each final verdict owns its own (no older version
    of the config can hold a verdict that did not exist): the battle is settled. False (and on SQLite, which
    has no data-modifying WITH, without running anything) when any arena verdict existed already (a battle
    settled twice, or an older version of the config recorded it first): the caller then settles it the long
    way (`consistency._settle`), which finds what this statement wrote, if anything, and keeps it."""
    if connection.vendor != "postgresql" or not entries or len(entries) > _FUSED_MOST:
        return False
    verdicts_sql, verdict_params = verdicts_insert_statement(entries)
    first, now = finals[0], timezone.now()
    shared = [db_value(FinalVerdict, name, first.serializable_value(name))
              for name in ("config_version", "campaign", "shown", "swapped")]  # fmt: skip
    dimensions = [[db_value(FinalVerdict, "dimension", final.serializable_value("dimension")), final.outcome,
                   final.inconsistent] for final in finals]  # fmt: skip
    params = [
        *verdict_params,
        *shared,
        db_value(FinalVerdict, "created", now),
        *(v for row in dimensions for v in row),
    ]
    created = sql_run(_fused_sql(len(entries), verdicts_sql), params).rows[0].created  # one row, always
    if created != len(entries):
        return False
    for final in finals:
        final.created = now
    return True


# The ledger's multi-row statement takes at most 1,000 verdicts; a battle with more dimensions than that
# (none is realistic) takes the long way rather than failing.
_FUSED_MOST = 1000


@functools.lru_cache(maxsize=16)
def _fused_sql(rows: int, verdicts_sql: str) -> str:
    # The final verdicts take their arena verdict's id from the INSERT's RETURNING, and only when the INSERT
    # created every arena verdict of the battle. On a partial conflict (a newer version of the config adds a
    # dimension to a battle an older one settled) the statement writes the new arena verdicts alone, as the
    # long way's first step does: were the final verdicts of some dimensions committed here and the rest
    # later, a worker dying in between would leave the battle with some of its final verdicts, which the
    # sweep (`consistency.campaign_settle_missing`, battles with none) would never complete.
    values = ", ".join(["(%s::bigint, %s::text, %s::boolean)"] * rows)
    return (
        f"WITH v AS ({verdicts_sql}), f AS (INSERT INTO {_FV} ({', '.join(_FV_COLUMNS)}) "  # noqa: S608
        "SELECT v.battle_id, v.dimension_id, %s, %s, d.outcome, d.inconsistent, %s, %s, v.id, %s "
        f"FROM v JOIN (VALUES {values}) AS d (dimension_id, outcome, inconsistent) ON d.dimension_id = v.dimension_id "
        f"WHERE (SELECT count(*) FROM v) = {rows} "
        f"ON CONFLICT ({', '.join(_FV_COLUMNS[:3])}) DO NOTHING) "
        "SELECT (SELECT count(*) FROM v) AS created"
    )


def _final_params(final: FinalVerdict) -> list:
    return [db_value(FinalVerdict, name, final.serializable_value(name)) for name in _FV_FIELDS]


# --- the ledger of paid calls (judges.models.PaidCall): a row before every request, completed after it ------

_CALL_SENT = f"""INSERT INTO {_PC} ({_CALL_COLUMNS}) VALUES (%s, %s, %s, 'sent', %s, 0, 0, %s) RETURNING id"""  # noqa: S608
_CALL_ENDED = f"""
UPDATE {_PC} SET outcome = %s, replied_at = %s, tokens_in = %s, tokens_out = %s, cost = %s WHERE id = %s"""  # noqa: S608


def _call_sent_params(claim_token: uuid.UUID) -> list[Any]:
    return [db_value(PaidCall, "claim_token", claim_token), db_value(PaidCall, "sent_at", timezone.now()),
            db_value(PaidCall, "cost", 0)]  # fmt: skip


def paid_call_sent(campaign_id: int, item_id: int, claim_token: uuid.UUID) -> int:
    """The ledger row written before a request leaves; its id."""
    return sql_run(_CALL_SENT, [campaign_id, item_id, *_call_sent_params(claim_token)]).rows[0].id


@dataclass(frozen=True)
class CallEnd:
    """How a paid call ended, for its ledger row. `replied_at`: when the reply (or the failure) came, stamped
    when this is made, since the row may be written later (by the settle statement, after parsing)."""

    call_id: int
    outcome: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Any = 0
    replied_at: datetime = dataclasses.field(default_factory=timezone.now)

    def values(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "cost": self.cost, "replied_at": self.replied_at}  # fmt: skip


def _call_ended_params(end: CallEnd) -> list[Any]:
    return [end.outcome, db_value(PaidCall, "replied_at", end.replied_at), end.tokens_in, end.tokens_out,
            db_value(PaidCall, "cost", end.cost), end.call_id]  # fmt: skip


def paid_call_ended(
    call_id: int,
    *,
    outcome: str,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost=0,
    replied_at: datetime | None = None,
) -> None:
    end = CallEnd(call_id, outcome, tokens_in, tokens_out, cost, replied_at or timezone.now())
    sql_run(_CALL_ENDED, _call_ended_params(end))
