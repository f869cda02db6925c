"""The work protocol of judgments and generations, stated once: claim, renew, settle, release, reclaim.

Every path that moves a work item (`judges.models.work`) goes through here, whether it loaded the row with
the ORM (generations, the sweep, tests) or with the judges' fast statements (`judgment_sql`, which wraps
the claim and the settle statements built here in its own); nothing else writes these columns.

The rules:
- **Who may claim:** a pending row of a running campaign. A claim is one conditional UPDATE that changes
  exactly one row or the caller walks away; it takes a fresh `claim_token`, counts one more attempt and
  starts a short lease (`JUDGES_LEASE_SECONDS`).
- **Leases:** the worker that holds a claim renews its lease while the call runs (`judges.services.leases`),
  never past `lease_hard_seconds` after the claim: two calls (the answer and one repair) and a grace.
- **Settle and release:** a running row becomes final (`SETTLED`) or goes back to pending for a retry only
  while the caller's token still holds it, so a worker whose lease ran out, and whose row was handed to
  another, cannot overwrite the new result. Tokens and cost spent add to what earlier attempts spent.
- **Attempts:** a row is tried at most `JUDGES_MAX_ATTEMPTS` times, whether its calls failed or its worker
  was lost; a row past its lease with attempts left goes back to pending, one without fails.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.utils import timezone

from judges.models import Campaign, ErrorKind, WorkStatus
from judges.models.work import WorkItem
from judges.services.sql import db_column, db_table, db_value, sql_run

SETTLED = frozenset({WorkStatus.DONE.value, WorkStatus.PARSE_FAILED.value, WorkStatus.FAILED.value})
SPEND_FIELDS = ("tokens_in", "tokens_out", "cost")  # added to, never overwritten


class Statement(NamedTuple):
    """One protocol statement, for callers that run it inside a larger one (`judgment_sql`)."""

    sql: str
    params: list


def lease_short_seconds() -> float:
    return float(settings.JUDGES_LEASE_SECONDS)


def lease_hard_seconds(timeout_s: float) -> float:
    """The longest a claim may be kept alive: two calls (the answer and one repair) plus a grace."""
    return 2 * timeout_s + settings.JUDGES_LEASE_GRACE_SECONDS


def attempts_exhausted(attempts: int) -> bool:
    """Whether a row that has been claimed `attempts` times may not be tried again."""
    return attempts >= settings.JUDGES_MAX_ATTEMPTS


# --- claim ---------------------------------------------------------------------------------------------


def claim_statement(model: type[WorkItem], *, pk: int, token: uuid.UUID, lease_s: float) -> Statement:
    """pending → running, in a running campaign; RETURNING the row's id and campaign (one row, or none)."""
    table, now = db_table(model), timezone.now()
    sql = (
        f"UPDATE {table} SET status = %s, claim_token = %s, claimed_at = %s, lease_until = %s, "  # noqa: S608
        f"attempts = attempts + 1 WHERE id = %s AND status = %s AND EXISTS (SELECT 1 FROM "
        f"{db_table(Campaign)} c WHERE c.id = {table}.campaign_id AND c.status = %s) "
        f"RETURNING id, campaign_id"
    )
    params = [
        WorkStatus.RUNNING.value,
        db_value(model, "claim_token", token),
        db_value(model, "claimed_at", now),
        db_value(model, "lease_until", now + timedelta(seconds=lease_s)),
        pk,
        WorkStatus.PENDING.value,
        Campaign.Status.RUNNING.value,
    ]
    return Statement(sql, params)


def work_claim(
    model: type[WorkItem], *, pk: int, lease_s: float, token: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Claim one row with `token` (a fresh one by default); the token, or None when someone else has it
    (or its campaign is not running)."""
    token = token or uuid.uuid4()
    claimed = sql_run(*claim_statement(model, pk=pk, token=token, lease_s=lease_s))
    return token if claimed.rowcount == 1 else None


# --- renew ---------------------------------------------------------------------------------------------


def work_renew(model: type[WorkItem], *, tokens: list[uuid.UUID], lease_s: float) -> int:
    """Extend the lease of every row still running under one of `tokens`; returns how many."""
    if not tokens:
        return 0
    marks = ", ".join(["%s"] * len(tokens))
    sql = (
        f"UPDATE {db_table(model)} SET lease_until = %s "  # noqa: S608
        f"WHERE status = %s AND claim_token IN ({marks})"
    )
    until = timezone.now() + timedelta(seconds=lease_s)
    params = [db_value(model, "lease_until", until), WorkStatus.RUNNING.value]
    params += [db_value(model, "claim_token", token) for token in tokens]
    return sql_run(sql, params).rowcount


# --- settle and release: only while the token holds the claim ------------------------------------------


def settle_statement(
    model: type[WorkItem], *, pk: int, token: uuid.UUID, status: str, fields: dict[str, Any], spent: dict
) -> Statement:
    """running → a final status. `fields` are set, `spent` (tokens, cost) added to the row's."""
    if status not in SETTLED:
        raise ValueError(
            f"{str(status)!r} is not a final status of a work item; use one of {sorted(SETTLED)}"
        )
    return _held_update(model, pk, token, {"status": status, "finished_at": timezone.now(),
                                           "lease_until": None, **fields}, spent)  # fmt: skip


def work_settle(
    model: type[WorkItem], *, pk: int, token: uuid.UUID, status: str, spent: dict | None = None, **fields
) -> bool:
    """Settle one row; False when `token` no longer holds it (its lease ran out and it was handed on)."""
    statement = settle_statement(model, pk=pk, token=token, status=status, fields=fields, spent=spent or {})
    return sql_run(*statement).rowcount == 1


def work_release(
    model: type[WorkItem], *, pk: int, token: uuid.UUID, retry_in: float, spent: dict | None = None, **fields
) -> bool:
    """running → pending, to be retried in `retry_in` seconds (recorded in `enqueued_at`, so the sweep can
    tell a row waiting for its retry from one whose message was lost)."""
    when = timezone.now() + timedelta(seconds=retry_in)
    changes = {"status": WorkStatus.PENDING.value, "claim_token": None, "lease_until": None,
               "enqueued_at": when, **fields}  # fmt: skip
    return sql_run(*_held_update(model, pk, token, changes, spent or {})).rowcount == 1


def _held_update(model: type[WorkItem], pk: int, token: uuid.UUID, changes: dict, spent: dict) -> Statement:
    unknown = set(spent) - set(SPEND_FIELDS)
    if unknown:
        raise ValueError(f"spend fields {sorted(unknown)} are not among {SPEND_FIELDS}")
    sets = [f"{db_column(model, name)} = %s" for name in changes]
    sets += [f"{db_column(model, name)} = {db_column(model, name)} + %s" for name in spent]
    sql = (
        f"UPDATE {db_table(model)} SET {', '.join(sets)} "  # noqa: S608
        f"WHERE id = %s AND status = %s AND claim_token = %s"
    )
    params = [db_value(model, name, value) for name, value in changes.items()]
    params += [db_value(model, name, value) for name, value in spent.items()]
    params += [pk, WorkStatus.RUNNING.value, db_value(model, "claim_token", token)]
    return Statement(sql, params)


# --- reclaim: leases that ran out ----------------------------------------------------------------------


def work_reclaim_stale(model: type[WorkItem], *, campaign_id: int) -> list[int]:
    """Hand back rows whose claim outlived its lease (the worker died or hung); returns the ids now pending.

    Two conditional UPDATEs, each re-checking the lease under the row lock, so two sweepers never both
    reclaim a row. A row whose worker was lost on each of its allowed attempts fails instead: it may be what
    kills the worker.
    """
    table, now = db_table(model), timezone.now()
    stale = "campaign_id = %s AND status = %s AND lease_until < %s"
    stale_params = [campaign_id, WorkStatus.RUNNING.value, db_value(model, "lease_until", now)]
    fail = (
        f"UPDATE {table} SET status = %s, finished_at = %s, lease_until = NULL, error_kind = %s, "  # noqa: S608
        f"error = %s || CAST(attempts AS TEXT) || %s WHERE {stale} AND attempts >= %s"
    )
    sql_run(fail, [WorkStatus.FAILED.value, db_value(model, "finished_at", now), ErrorKind.TRANSIENT.value,
                   "the worker was lost during each of ", " attempts (killed or hung past its lease)",
                   *stale_params, settings.JUDGES_MAX_ATTEMPTS])  # fmt: skip
    back = (
        f"UPDATE {table} SET status = %s, claim_token = NULL, lease_until = NULL, enqueued_at = %s "  # noqa: S608
        f"WHERE {stale} RETURNING id"
    )
    pending = sql_run(back, [WorkStatus.PENDING.value, db_value(model, "enqueued_at", now), *stale_params])
    return [row.id for row in pending.rows]
