"""The verdict ledger: the one module that writes arena `Verdict` rows.

A person's vote, an LLM judge's settled verdict, a jury's derived verdict and an imported one all come here,
so the rules of a verdict live in one place:
- an outcome is one of `Outcome` and fixes the score for side A (1, 0, or 0.5 for tie and both_bad); a soft
  verdict has no outcome and a score in [0, 1];
- the battle's two contenders are copied onto the row, so ratings group verdicts without joining battles;
- once per (battle, dimension, source, voter key): the unique constraint decides, even between concurrent
  writers. A repeat writes nothing and hands back the stored verdict's id, unchanged;
- all or nothing: a call joins the caller's transaction (without a savepoint, which would cost the vote path
  two statements) or runs in its own, and a bad entry raises `Invalid` with nothing of the call kept.

People's and LLM judges' verdicts are written once. Only a jury's verdicts, derived from its members', are
rewritten (`derived_verdicts_sync`), and a vote its voter undoes is withdrawn (`verdicts_withdraw`).
tests/arena/test_verdict_ledger.py fails when another module writes `Verdict` rows.

Written in SQL (one multi-row INSERT … ON CONFLICT DO NOTHING … RETURNING per batch) because the vote path
runs it for every vote; table and column names are the model's defaults, which the ledger's tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from arena.errors import Invalid
from arena.models import Battle, Dimension, Source, Verdict
from arena.models.verdicts import OUTCOME_SCORE, Outcome
from arena.sql_rows import fetch_all_as

VOTER_KEY_MAX_LENGTH = 80  # Verdict.voter_key's max_length


@dataclass(frozen=True, slots=True)
class VerdictEntry:
    """One verdict to record, by ids. The contender ids are the battle's own, read from its row by the
    caller (the ledger copies them; the database refuses the same contender on both sides)."""

    battle_id: int
    contender_a_id: int
    contender_b_id: int
    dimension_id: int
    source_id: int
    outcome: str | None = None
    score: float | None = None  # only for a soft verdict (no outcome)
    user_id: int | None = None
    voter_key: str = ""  # a person's ("u:<user id>", "s:<session hash>") or an import record's; judges ""
    inconsistent: bool = False  # an LLM judge disagreed with itself across the two answer orders
    excluded: bool = False  # stored for audit but left out of ratings (e.g. a vote on one's own contender)


class Recorded(NamedTuple):
    """What became of one entry: the verdict's id, and whether this call created it."""

    id: int
    created: bool


class _Stored(NamedTuple):
    id: int
    battle_id: int
    dimension_id: int
    source_id: int
    voter_key: str


_Key = tuple[int, int, int, str]
_KEY = ("battle_id", "dimension_id", "source_id", "voter_key")
_COLUMNS = (*_KEY, "contender_a_id", "contender_b_id", "user_id", "outcome", "score", "inconsistent", "excluded",
            "created")  # fmt: skip


def verdicts_record(entries: Sequence[VerdictEntry]) -> list[Recorded]:
    """Record every entry once; returns, entry by entry, the verdict's id and whether this call created it
    (False: the ledger already held that (battle, dimension, source, voter key) verdict and kept it as it was;
    an entry repeated within the call is created once). Raises `Invalid`, keeping nothing, for an unknown
    outcome, a soft score outside [0, 1] or an over-long voter key."""
    return _record(entries, timezone.now())


def verdicts_insert_statement(entries: Sequence[VerdictEntry]) -> tuple[str, list]:
    """The ledger's INSERT of these entries as one statement, (sql, params), for a caller that runs it as part
    of a statement of its own: the vote path runs it as a data-modifying CTE of the vote's close (PostgreSQL),
    one round trip fewer per vote. The rules are those of `verdicts_record` (the same checks, `Invalid` for a
    bad entry, ON CONFLICT DO NOTHING keeping a stored verdict as it was), but the caller learns no ids.
    At most one batch of entries (the few rows of a vote)."""
    if not 0 < len(entries) <= _batch_rows():
        raise ValueError(f"{len(entries)} entries: one statement takes 1 to {_batch_rows()}")
    created = Verdict._meta.get_field("created").get_db_prep_value(timezone.now(), connection)
    params = [
        values[column]
        for values in ({**_fields(e), "created": created} for e in entries)
        for column in _COLUMNS
    ]
    return _insert_sql(len(entries)), params


def verdict_record(
    *,
    battle: Battle,
    dimension: Dimension,
    source: Source,
    outcome: str | None = None,
    score: float | None = None,
    user=None,
    voter_key: str = "",
    inconsistent: bool = False,
    excluded: bool = False,
) -> tuple[Verdict, bool]:
    """Record one verdict; (verdict, created) like `get_or_create`. A repeat for the same (battle, dimension,
    source, voter key) returns the stored verdict unchanged. Only `battle`'s keys are read (pk and contender
    ids), so a caller may pass a battle built from ids it already holds."""
    entry = VerdictEntry(
        battle_id=battle.pk, contender_a_id=battle.contender_a_id, contender_b_id=battle.contender_b_id,
        dimension_id=dimension.pk, source_id=source.pk, outcome=outcome, score=score,
        user_id=user.pk if user is not None else None, voter_key=voter_key, inconsistent=inconsistent,
        excluded=excluded,
    )  # fmt: skip
    now = timezone.now()
    [(pk, created)] = _record([entry], now)
    if not created:
        return Verdict.objects.get(pk=pk), False
    return Verdict(pk=pk, **_fields(entry), created=now), True


def verdicts_withdraw(*, battle_id: int, source: Source, voter_key: str) -> int:
    """Delete one voter's verdicts on a battle (every dimension), as if never given; returns how many.

    For a vote its voter undoes: deleted rather than marked excluded, so the same voter may vote on the
    battle again (the once-per-voter constraint) and nothing counts it twice. Call inside the transaction
    that reopens the vote.
    """
    deleted, _ = Verdict.objects.filter(battle_id=battle_id, source=source, voter_key=voter_key).delete()
    return deleted


def derived_verdicts_sync(*, source: Source, outcomes: dict[tuple[int, int], str]) -> tuple[int, int, int]:
    """Make a derived source's verdicts exactly `outcomes` ((battle id, dimension id) → outcome); returns
    (created, changed, removed).

    Only a jury's verdicts are derived (computed from its member judges' verdicts, and recomputed when those
    or the people's votes it learns from change), so only they are ever rewritten: people's votes and a
    judge's own verdicts are written once, by `verdicts_record`. All or nothing, in one transaction; an
    unknown outcome or battle changes nothing.
    """
    if source.kind != Source.Kind.JURY:
        raise Invalid(
            f"Source {source.key!r} is of kind {source.kind!r}: only a jury's verdicts are derived and can be "
            "rewritten; people's and judges' verdicts are recorded once with verdict_record.",
            field="source",
        )
    unknown = {outcome for outcome in outcomes.values() if outcome not in Outcome.values}
    if unknown:
        raise Invalid(
            f"Unknown outcome(s) {sorted(unknown)}: use one of {', '.join(Outcome.values)}.", field="outcome"
        )
    battle_ids = {battle_id for battle_id, _ in outcomes}
    sides = {
        pk: (a, b)
        for pk, a, b in Battle.objects.filter(pk__in=battle_ids).values_list(
            "pk", "contender_a_id", "contender_b_id"
        )
    }
    missing = battle_ids - set(sides)
    if missing:
        raise Invalid(f"No battle with id(s) {sorted(missing)[:10]}.", field="battle")
    with transaction.atomic():
        stored = {
            (battle, dimension): (pk, outcome)
            for pk, battle, dimension, outcome in Verdict.objects.select_for_update()
            .filter(source=source)
            .values_list("pk", "battle_id", "dimension_id", "outcome")
        }
        stale = [pk for key, (pk, _) in stored.items() if key not in outcomes]
        changed = [key for key, outcome in outcomes.items() if key in stored and stored[key][1] != outcome]
        # A changed verdict is deleted and inserted again rather than updated: verdicts are otherwise
        # append-only, and the leaderboard's data fingerprint (count, largest id) relies on it to notice.
        Verdict.objects.filter(pk__in=stale + [stored[key][0] for key in changed]).delete()
        fresh = [
            VerdictEntry(
                battle_id=battle,
                contender_a_id=sides[battle][0],
                contender_b_id=sides[battle][1],
                dimension_id=dimension,
                source_id=source.pk,
                outcome=outcome,
            )
            for (battle, dimension), outcome in outcomes.items()
            if (battle, dimension) not in stored or stored[battle, dimension][1] != outcome
        ]
        verdicts_record(fresh)
    return len(fresh) - len(changed), len(changed), len(stale)


# --- writing ------------------------------------------------------------------------------------------


def _score(entry: VerdictEntry) -> float:
    if entry.outcome is not None:
        if entry.outcome not in Outcome.values:
            raise Invalid(
                f"Unknown outcome {entry.outcome!r}: use one of {', '.join(Outcome.values)}.", field="outcome"
            )
        return OUTCOME_SCORE[Outcome(entry.outcome)]
    if entry.score is None or not 0.0 <= entry.score <= 1.0:
        raise Invalid(f"A soft verdict needs a score in [0, 1], got {entry.score!r}.", field="score")
    return float(entry.score)


def _fields(entry: VerdictEntry) -> dict:
    """The row's values but `created`, checked: `Invalid` for a bad entry."""
    if len(entry.voter_key) > VOTER_KEY_MAX_LENGTH:
        raise Invalid(
            f"Voter key {entry.voter_key[:20]!r}… has {len(entry.voter_key)} characters; the ledger keeps at "
            f"most {VOTER_KEY_MAX_LENGTH}.",
            field="voter_key",
        )
    return {
        "battle_id": entry.battle_id, "dimension_id": entry.dimension_id, "source_id": entry.source_id,
        "voter_key": entry.voter_key, "contender_a_id": entry.contender_a_id,
        "contender_b_id": entry.contender_b_id, "user_id": entry.user_id, "outcome": entry.outcome,
        "score": _score(entry), "inconsistent": entry.inconsistent, "excluded": entry.excluded,
    }  # fmt: skip


def _key(entry: VerdictEntry) -> _Key:
    return entry.battle_id, entry.dimension_id, entry.source_id, entry.voter_key


def _record(entries: Sequence[VerdictEntry], now: datetime) -> list[Recorded]:
    # The field's documented conversion gives each backend the form the ORM stores (naive UTC text on SQLite).
    created = Verdict._meta.get_field("created").get_db_prep_value(now, connection)
    rows = [
        [values[column] for column in _COLUMNS]
        for values in ({**_fields(e), "created": created} for e in entries)
    ]
    keys = [_key(entry) for entry in entries]
    ids: dict[_Key, int] = {}
    new: set[_Key] = set()
    batch = _batch_rows()
    with transaction.atomic(savepoint=False):
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            inserted = _sql_rows(_insert_sql(len(chunk)), [value for row in chunk for value in row])
            for row in inserted:
                ids[row.battle_id, row.dimension_id, row.source_id, row.voter_key] = row.id
                new.add((row.battle_id, row.dimension_id, row.source_id, row.voter_key))
            absent = list(dict.fromkeys(key for key in keys[start : start + batch] if key not in ids))
            if absent:
                for row in _sql_rows(_stored_sql(len(absent)), [part for key in absent for part in key]):
                    ids[row.battle_id, row.dimension_id, row.source_id, row.voter_key] = row.id
    recorded = []
    for key in keys:
        recorded.append(Recorded(ids[key], key in new))
        new.discard(key)  # a repeat within the call is not created twice
    return recorded


def _sql_rows(sql: str, params: list) -> list[_Stored]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return fetch_all_as(cursor, _Stored)


def _batch_rows() -> int:
    # Rows per statement, under each backend's cap on parameters (12 a row; SQLite is built with 32766).
    return 1000 if connection.vendor == "postgresql" else 500


@lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    row = f"({', '.join(['%s'] * len(_COLUMNS))})"
    return (
        f"INSERT INTO arena_verdict ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * rows)} "  # noqa: S608
        f"ON CONFLICT ({', '.join(_KEY)}) DO NOTHING RETURNING id, {', '.join(_KEY)}"
    )


@lru_cache(maxsize=64)
def _stored_sql(rows: int) -> str:
    key = f"({', '.join(['%s'] * len(_KEY))})"
    return f"SELECT id, {', '.join(_KEY)} FROM arena_verdict WHERE ({', '.join(_KEY)}) IN ({', '.join([key] * rows)})"  # noqa: S608
