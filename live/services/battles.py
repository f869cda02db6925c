"""A live battle's life: started, streamed turn by turn, followed up, regenerated, failed or cancelled.

States (LiveBattle.State): pending → streaming → ready (→ pending again for a follow-up or a regeneration)
→ voted; or failed (an endpoint failed) / cancelled (the person left during a stream), neither counted.
Every change of state is one conditional UPDATE that must change exactly one row, so two tabs (or a reload)
never stream the same turn twice nor vote twice.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from arena.errors import Conflict, Forbidden, NotFound
from arena.models import Contender
from arena.services.identity_leaks import identity_leak_find
from arena.voting import Voter, annotator_for
from live.models import LiveBattle
from live.moderation import message_moderate
from live.services.drawing import pair_draw
from live.services.limits import (
    daily_battles_check,
    live_starts_serialized,
    message_clean,
    turns_left_check,
)

State = LiveBattle.State


def live_battle_of(*, token: str, voter: Voter) -> LiveBattle:
    """The battle behind `token` with its contenders, if it is this voter's: 404 unknown, 403 someone else's."""
    battle = LiveBattle.objects.select_related("contender_a", "contender_b").filter(token=token).first()
    if battle is None:
        raise NotFound("Unknown live battle: this link is not (or no longer) valid. Start a new round.")
    if battle.voter_key != voter.key:
        raise Forbidden(
            "This live battle belongs to someone else: only the person who started it can see and vote on it. "
            "Start your own round."
        )
    return battle


def live_battle_start(*, voter: Voter, text: str) -> LiveBattle:
    """Check the message (length, moderation) and the person's daily limit, draw two contenders, and open
    the battle for its first stream. Nothing is created when it raises (the moderation record excepted).
    The limits are counted and the battle stored while other starts wait (`live_starts_serialized`), so
    simultaneous starts at a limit cannot pass it together."""
    text = message_clean(text)
    daily_battles_check(voter.key)  # early, so a person at the limit is not recorded by moderation
    annotator = annotator_for(voter)
    message_moderate(text=text, voter_key=voter.key)
    with live_starts_serialized():
        daily_battles_check(voter.key)
        contender_a, contender_b = pair_draw(annotator=annotator)
        return LiveBattle.objects.create(
            token=secrets.token_urlsafe(24), voter_key=voter.key, user=voter.user,  # type: ignore[misc]  # Voter.user is a User or None
            contender_a=contender_a, contender_b=contender_b, left_is_a=secrets.randbelow(2) == 0,
            turns=[text],
        )  # fmt: skip


def _open_for_more(battle: LiveBattle, action: str) -> None:
    if battle.state == State.VOTED:
        raise Conflict(f"You voted on this battle, so it takes no {action}: start a new round.")
    if battle.state in (State.PENDING, State.STREAMING):
        raise Conflict(f"Wait for both answers to finish before a {action}.")
    if battle.state == State.CANCELLED:
        raise Conflict(f"This battle was stopped, so it takes no {action}: start a new round.")


def live_turn_add(*, token: str, voter: Voter, text: str) -> LiveBattle:
    """A follow-up message, sent to both contenders with the conversation so far."""
    text = message_clean(text)
    battle = live_battle_of(token=token, voter=voter)
    _open_for_more(battle, "follow-up")
    if battle.state == State.FAILED:
        raise Conflict("A model failed in this battle, so it cannot go on: start a new round.")
    turns_left_check(battle)
    message_moderate(text=text, voter_key=voter.key)
    changed = LiveBattle.objects.filter(pk=battle.pk, state=State.READY, turns=battle.turns).update(
        turns=[*battle.turns, text], state=State.PENDING, updated=timezone.now()
    )
    if changed != 1:
        raise Conflict("This battle changed in another tab; reload the page.")
    battle.refresh_from_db()
    return battle


def live_regenerate(*, token: str, voter: Voter) -> LiveBattle:
    """Answer the last message again, from the same two contenders (a failed side gets another chance)."""
    battle = live_battle_of(token=token, voter=voter)
    _open_for_more(battle, "regeneration")
    turns_left_check(battle)
    answered = len(battle.turns) - 1
    changed = LiveBattle.objects.filter(pk=battle.pk, state=battle.state).update(
        replies_a=battle.replies_a[:answered], replies_b=battle.replies_b[:answered], state=State.PENDING,
        failure="", identity_leak="", regenerations=F("regenerations") + 1, updated=timezone.now(),
    )  # fmt: skip
    if changed != 1:
        raise Conflict("This battle changed in another tab; reload the page.")
    battle.refresh_from_db()
    return battle


def live_stream_claim(*, token: str, voter: Voter) -> LiveBattle | None:
    """Take the battle's pending turn for streaming; None when there is none (already streamed or streaming
    elsewhere). Raises like `live_battle_of` for an unknown token or someone else's battle.

    The claim is one conditional UPDATE (token, owner and state in its WHERE) that must change exactly one
    row; on PostgreSQL the same statement returns the battle and its contenders (`_claim_returning`), so an
    opening that claims costs one round trip instead of a look-up and an update. Only when nothing was
    claimed is the battle looked up, to say why."""
    if connection.vendor == "postgresql":
        claimed = _claim_returning(token=token, voter_key=voter.key)
    else:
        claimed = _claim_then_read(token=token, voter_key=voter.key)
    if claimed is None:
        live_battle_of(token=token, voter=voter)  # 404 unknown, 403 someone else's; else nothing waiting
    return claimed


def _claim_then_read(*, token: str, voter_key: str) -> LiveBattle | None:
    changed = LiveBattle.objects.filter(token=token, voter_key=voter_key, state=State.PENDING).update(
        state=State.STREAMING, updated=timezone.now()
    )
    if changed != 1:
        return None
    return LiveBattle.objects.select_related("contender_a", "contender_b").get(token=token)


def _claim_returning(*, token: str, voter_key: str) -> LiveBattle | None:
    sql, params = claim_statement(token=token, voter_key=voter_key)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else claimed_battle(row)


def claim_statement(*, token: str, voter_key: str) -> tuple[str, list]:
    """The PostgreSQL claim (see `live_stream_claim`) as SQL and parameters, for any connection to run (the
    streams' opening runs it on an async one, `live.stream_opening`); `claimed_battle` reads its row."""
    return _claim_sql(), [State.STREAMING, timezone.now(), token, voter_key, State.PENDING]


@functools.cache
def _claim_sql() -> str:
    battle_fields, contender_fields = LiveBattle._meta.concrete_fields, Contender._meta.concrete_fields
    quote = connection.ops.quote_name

    def columns(alias: str, fields) -> str:
        return ", ".join(f"{alias}.{quote(field.column)}" for field in fields)

    contenders = quote(Contender._meta.db_table)
    return (
        f"WITH claimed AS (UPDATE {quote(LiveBattle._meta.db_table)} SET state = %s, updated = %s "
        f"WHERE token = %s AND voter_key = %s AND state = %s RETURNING *) "
        f"SELECT {columns('claimed', battle_fields)}, {columns('a', contender_fields)}, "
        f"{columns('b', contender_fields)} FROM claimed "
        f"JOIN {contenders} a ON a.id = claimed.contender_a_id JOIN {contenders} b ON b.id = claimed.contender_b_id"
    )


def claims_statement(*, wanted: list[tuple[str, str]]) -> tuple[str, list]:
    """Several claims (`claim_statement`) as one statement: `wanted` is (token, voter_key) pairs; each row
    returned is one claimed battle as `claimed_battle` reads it, `claimed_key` saying which pair claimed it."""
    tokens, voter_keys = [token for token, _ in wanted], [key for _, key in wanted]
    return _claims_sql(), [tokens, voter_keys, State.STREAMING, timezone.now(), State.PENDING]


def claimed_key(row: tuple) -> tuple[str, str]:
    """(token, voter_key) of a row of the claim statements."""
    token, voter_key = _claimed_key_columns()
    return row[token], row[voter_key]


@functools.cache
def _claimed_key_columns() -> tuple[int, int]:
    names = [field.name for field in LiveBattle._meta.concrete_fields]
    return names.index("token"), names.index("voter_key")


@functools.cache
def _claims_sql() -> str:
    battle_fields, contender_fields = LiveBattle._meta.concrete_fields, Contender._meta.concrete_fields
    quote = connection.ops.quote_name
    battles, contenders = quote(LiveBattle._meta.db_table), quote(Contender._meta.db_table)

    def columns(alias: str, fields) -> str:
        return ", ".join(f"{alias}.{quote(field.column)}" for field in fields)

    return (
        "WITH wanted AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS w(token, voter_key)), "
        f"claimed AS (UPDATE {battles} battle SET state = %s, updated = %s FROM wanted "
        "WHERE battle.token = wanted.token AND battle.voter_key = wanted.voter_key AND battle.state = %s "
        "RETURNING battle.*) "
        f"SELECT {columns('claimed', battle_fields)}, {columns('a', contender_fields)}, "
        f"{columns('b', contender_fields)} FROM claimed "
        f"JOIN {contenders} a ON a.id = claimed.contender_a_id JOIN {contenders} b ON b.id = claimed.contender_b_id"
    )


def claimed_battle(row: tuple) -> LiveBattle:
    """The battle and both contenders from a row of the claim statement."""
    battle_fields, contender_fields = LiveBattle._meta.concrete_fields, Contender._meta.concrete_fields
    split = len(battle_fields) + len(contender_fields)
    # Looked up once for the three instances: each look-up of a connection is a context-local one (under
    # ASGI, asgiref's), a twentieth of an opening's CPU on the event loop when made per instance.
    db = connections[DEFAULT_DB_ALIAS]
    battle = _instance(LiveBattle, row[: len(battle_fields)], db)
    # Both contenders joined to the battle's own keys, cached on it as select_related caches what it
    # joined (the descriptor's assignment would check the pair's databases again, for the same row).
    LiveBattle.contender_a.field.set_cached_value(
        battle, _instance(Contender, row[len(battle_fields) : split], db)
    )
    LiveBattle.contender_b.field.set_cached_value(battle, _instance(Contender, row[split:], db))
    return battle


def claimed_conversions() -> None:
    """Find the claimed rows' conversions (`_conversions`) now rather than in the first claim."""
    db = connections[DEFAULT_DB_ALIAS]
    _conversions(LiveBattle, db)
    _conversions(Contender, db)


def _instance(model, values, db):
    """A model instance from a raw row of its concrete fields, through the fields' own conversions (JSON,
    for one: the backend hands jsonb over as text, as the ORM expects)."""
    attnames, conversions = _conversions(model, db)
    converted = []
    for value, (column, converters) in zip(values, conversions, strict=True):
        for converter in converters:
            value = converter(value, column, db)
        converted.append(value)
    return model.from_db(db.alias, attnames, converted)


_CONVERSIONS: dict[tuple[type, str], tuple[list[str], list[tuple]]] = {}


def _conversions(model, db) -> tuple[list[str], list[tuple]]:
    """The model's field names and, per field, its column and converters: the same for every row, so found
    once per process (finding them took most of a claim's CPU on the web worker)."""
    key = (model, db.vendor)
    found = _CONVERSIONS.get(key)
    if found is None:
        fields = model._meta.concrete_fields
        conversions = []
        for field in fields:
            column = field.get_col(model._meta.db_table)
            conversions.append((column, db.ops.get_db_converters(column) + field.get_db_converters(db)))
        found = _CONVERSIONS[key] = ([field.attname for field in fields], conversions)
    return found


def _leak_in(contender: Contender, replies: list[str]) -> str:
    for reply in replies:
        found = identity_leak_find(contender=contender, text=reply)
        if found:
            return found
    return ""


def live_stream_finish(*, battle: LiveBattle, reply_a: str, reply_b: str) -> LiveBattle:
    """Store both replies to the turn just streamed; look for an answer naming its model."""
    replies_a, replies_b = [*battle.replies_a, reply_a], [*battle.replies_b, reply_b]
    leak = _leak_in(battle.contender_a, replies_a) or _leak_in(battle.contender_b, replies_b)
    LiveBattle.objects.filter(pk=battle.pk, state=State.STREAMING).update(
        replies_a=replies_a,
        replies_b=replies_b,
        identity_leak=leak,
        state=State.READY,
        updated=timezone.now(),
    )
    battle.refresh_from_db()
    return battle


def live_stream_end(*, battle: LiveBattle, state: str, failure: str = "") -> None:
    """Close a stream that did not finish: `failed` (an endpoint failed) or `cancelled` (the person left)."""
    with transaction.atomic():
        LiveBattle.objects.filter(pk=battle.pk, state=State.STREAMING).update(
            state=state, failure=failure[:2000], updated=timezone.now()
        )


@dataclass(frozen=True)
class Sides:
    """The battle as the page shows it: left and right, never which contender is which (until the vote)."""

    turns: list[str]
    left: list[str]
    right: list[str]


def sides_of(battle: LiveBattle) -> Sides:
    left, right = (
        (battle.replies_a, battle.replies_b) if battle.left_is_a else (battle.replies_b, battle.replies_a)
    )
    return Sides(turns=list(battle.turns), left=list(left), right=list(right))
