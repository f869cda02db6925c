"""The statements every judge call runs, written once in plain SQL.

Why not the ORM here: compiling a query costs the ORM about 2 ms of CPU per statement (measured: loading a
judgment with its battle's texts, 2.4 ms through `values()` against 0.13 ms for the same SQL), ten times the
statement itself. At the 160 calls/s a judge with 32 calls in flight can sustain, that is more than a core
spent building strings. Everything else in the app uses the ORM; these statements are the per-call path.

Portable between PostgreSQL and SQLite (the demo): standard SQL, and every parameter passed through its
model field's `get_db_prep_value`, so dates, UUIDs, decimals and JSON reach each backend in the form the ORM
would have used. On PostgreSQL the statements run on a server-binding psycopg cursor of Django's own
connection (same transaction), prepared once per connection: parameters travel apart from the SQL instead of
being escaped into it in Python (the stored replies are the long part), and no statement is planned twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from arena.models import Battle, Output, Prompt
from judges.models import Campaign, FinalVerdict, Judgment, PaidCall, WorkStatus

_J, _C = Judgment._meta.db_table, Campaign._meta.db_table
_B, _P, _O = Battle._meta.db_table, Prompt._meta.db_table, Output._meta.db_table
_FIELD = Judgment._meta.get_field


def _prep(name: str, value):
    return _FIELD(name).get_db_prep_value(value, connection, prepared=False)


def _execute(sql: str, params: list) -> tuple[int, list]:
    """Run one statement in Django's current connection and transaction; returns (rowcount, rows).

    On PostgreSQL the statement is prepared once per connection (Django turns psycopg's automatic
    preparation off) and its parameters are bound server-side, not escaped into the SQL in Python.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else []
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns preparation off for the connection; its own (client-binding) cursors never prepare
        # anyway, so allowing it only affects the cursors made here.
        raw.prepare_threshold = 0
    # Django's connection hands out client-binding cursors; this one binds server-side and can be prepared.
    # Errors still come out as Django's (IntegrityError, ...) and mark the connection like Django's own.
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.rowcount, cursor.fetchall() if cursor.description else []


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
SELECT j.id, j.status, j.campaign_id, j.battle_id, j.config_version_id, j."order", j.attempts, j.content_key,
       b.contender_a_id, b.contender_b_id, p.text, p.reference_answer, oa.text, ob.text,
       (SELECT r.id FROM {_J} r WHERE r.content_key = j.content_key AND r.status = 'done' AND r.id <> j.id LIMIT 1),
       p.later_turns, p.system_message, oa.later_replies, ob.later_replies
FROM {_J} j
JOIN {_B} b ON b.id = j.battle_id
JOIN {_P} p ON p.id = b.prompt_id
JOIN {_O} oa ON oa.id = b.output_a_id
JOIN {_O} ob ON ob.id = b.output_b_id
WHERE j.id = %s"""  # noqa: S608 (table names are ours, values are parameters)


def judgment_load(pk: int) -> JudgmentRow | None:
    _, rows = _execute(_LOAD, [pk])
    return JudgmentRow(*rows[0]) if rows else None


_CLAIM = f"""
UPDATE {_J} SET status = 'running', claim_token = %s, claimed_at = %s, lease_until = %s, attempts = attempts + 1
WHERE id = %s AND status = 'pending'
  AND EXISTS (SELECT 1 FROM {_C} c WHERE c.id = {_J}.campaign_id AND c.status = 'running')"""  # noqa: S608


def judgment_claim(pk: int, token, lease_s: float) -> bool:
    """pending → running in a running campaign; True only for the one caller whose UPDATE changed the row."""
    now = timezone.now()
    params = [
        _prep("claim_token", token),
        _prep("claimed_at", now),
        _prep("lease_until", now + timedelta(seconds=lease_s)),
        pk,
    ]
    return _execute(_CLAIM, params)[0] == 1


_FINISHED_FIELDS = ("status", "raw_text", "repair_raw_text", "raw_response", "verdicts", "rationale", "parse_error",
                    "error", "error_kind", "latency_ms", "reused_from")  # fmt: skip
_FINISH = f"""
UPDATE {_J} SET finished_at = %s, lease_until = NULL, {", ".join(f"{_FIELD(n).column} = %s" for n in _FINISHED_FIELDS)},
  tokens_in = tokens_in + %s, tokens_out = tokens_out + %s, cost = cost + %s
WHERE id = %s AND status = 'running' AND claim_token = %s"""  # noqa: S608


def judgment_finish(pk: int, token, *, tokens_in: int = 0, tokens_out: int = 0, cost=0, **fields) -> bool:
    """running → done / parse_failed, only while `token` still holds the claim. Unlisted fields are reset
    to their empty value; tokens and cost add to what earlier attempts spent."""
    values = {"raw_text": "", "repair_raw_text": "", "raw_response": None, "verdicts": None, "rationale": "",
              "parse_error": "", "error": "", "error_kind": "", "latency_ms": None, "reused_from": None, **fields}  # fmt: skip
    params = [_prep("finished_at", timezone.now())]
    params += [_prep(name, values[name]) for name in _FINISHED_FIELDS]
    params += [tokens_in, tokens_out, _prep("cost", cost), pk, _prep("claim_token", token)]
    return _execute(_FINISH, params)[0] == 1


_PAIR = f"""SELECT "order", id, status, verdicts FROM {_J} WHERE battle_id = %s AND config_version_id = %s"""  # noqa: S608


def judgment_pair(battle_id: int, version_id: int) -> dict[str, tuple[int, str, dict | None]]:
    """Both orders of a battle for one judge version: {order: (id, status, verdicts)}."""
    _, rows = _execute(_PAIR, [battle_id, version_id])
    return {order: (pk, status, _json(verdicts)) for order, pk, status, verdicts in rows}


_REUSABLE = f"""
SELECT id, reused_from_id, verdicts, rationale, raw_text, repair_raw_text, raw_response FROM {_J} WHERE id = %s"""  # noqa: S608


def judgment_reusable(pk: int) -> dict:
    """The stored result of a finished judgment (found by `judgment_load`), to copy instead of a new call."""
    _, rows = _execute(_REUSABLE, [pk])
    pk, origin, verdicts, rationale, raw_text, repair_raw_text, raw_response = rows[0]
    return {"origin": origin or pk, "verdicts": _json(verdicts), "rationale": rationale, "raw_text": raw_text,
            "repair_raw_text": repair_raw_text, "raw_response": _json(raw_response)}  # fmt: skip


_ACTIVE = f"SELECT 1 FROM {_J} WHERE campaign_id = %s AND status IN (%s, %s) LIMIT 1"  # noqa: S608


def campaign_has_active_judgments(campaign_id: int) -> bool:
    _, rows = _execute(_ACTIVE, [campaign_id, WorkStatus.PENDING.value, WorkStatus.RUNNING.value])
    return bool(rows)


_FV = FinalVerdict._meta.db_table
_FV_FIELDS = ("battle", "dimension", "config_version", "campaign", "outcome", "inconsistent", "shown", "swapped",
              "verdict", "created")  # fmt: skip
_FV_COLUMNS = [FinalVerdict._meta.get_field(name).column for name in _FV_FIELDS]
_FINAL = f"""
INSERT INTO {_FV} ({", ".join(_FV_COLUMNS)}) VALUES ({", ".join(["%s"] * len(_FV_FIELDS))})
ON CONFLICT ({", ".join(_FV_COLUMNS[:3])}) DO NOTHING"""  # noqa: S608


def final_verdict_insert(final: FinalVerdict) -> None:
    """Insert, or do nothing if this (battle, dimension, version) was settled already. If another version
    of the config took the arena verdict meanwhile (the unique `verdict` refuses a second owner), the row
    is stored without it."""
    final.created = timezone.now()
    try:
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            _execute(_FINAL, _final_params(final))
    except IntegrityError:
        final.verdict = None
        _execute(_FINAL, _final_params(final))


def _final_params(final: FinalVerdict) -> list:
    fields = [FinalVerdict._meta.get_field(name) for name in _FV_FIELDS]
    return [field.get_db_prep_value(field.value_from_object(final), connection) for field in fields]


# --- the ledger of paid calls (judges.models.PaidCall): two statements around every provider call --------

_PC = PaidCall._meta.db_table
_PC_FIELD = PaidCall._meta.get_field
_CALL_SENT = f"""
INSERT INTO {_PC} (campaign_id, item_id, claim_token, outcome, sent_at, tokens_in, tokens_out, cost)
VALUES (%s, %s, %s, 'sent', %s, 0, 0, %s) RETURNING id"""  # noqa: S608
_CALL_ENDED = f"""
UPDATE {_PC} SET outcome = %s, replied_at = %s, tokens_in = %s, tokens_out = %s, cost = %s WHERE id = %s"""  # noqa: S608


def paid_call_sent(campaign_id: int, item_id: int, claim_token) -> int:
    """The ledger row written before a request leaves; its id."""
    params = [campaign_id, item_id, _PC_FIELD("claim_token").get_db_prep_value(claim_token, connection),
              _PC_FIELD("sent_at").get_db_prep_value(timezone.now(), connection),
              _PC_FIELD("cost").get_db_prep_value(0, connection)]  # fmt: skip
    return _execute(_CALL_SENT, params)[1][0][0]


def paid_call_ended(call_id: int, *, outcome: str, tokens_in: int = 0, tokens_out: int = 0, cost=0) -> None:
    params = [outcome, _PC_FIELD("replied_at").get_db_prep_value(timezone.now(), connection), tokens_in,
              tokens_out, _PC_FIELD("cost").get_db_prep_value(cost, connection), call_id]  # fmt: skip
    _execute(_CALL_ENDED, params)
