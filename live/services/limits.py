"""The live battles' limits: message length, turns per battle, battles per person a day and per model an hour.

Counts come from the LiveBattle rows themselves (indexed by voter and by contender with their creation time),
so the limits hold across every web process without a counter to keep in step. The count and the row it
limits are one step: `live_starts_serialized` makes starts take turns (a PostgreSQL advisory lock held until
the starting transaction commits; SQLite's immediate transactions take turns by themselves), so requests
racing at the very limit cannot all pass. A start holds it for a few short queries; streams never take it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from arena.errors import Conflict, Invalid, Throttled
from live.models import LiveBattle

# The advisory lock's key: a fixed 64-bit number, named so that no other lock of the database collides with it.
_STARTS_LOCK = int.from_bytes(hashlib.sha256(b"live.battle-starts").digest()[:8], "big", signed=True)


@contextmanager
def live_starts_serialized() -> Iterator[None]:
    """A transaction in which no other live battle starts: the limits counted inside it stay true until the
    new battle is stored (it commits on leaving). Nested in an outer transaction, the lock lasts until that
    one ends."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_STARTS_LOCK])
        yield


def message_clean(text: str) -> str:
    """The message as it will be sent: stripped; refused (400) when empty or longer than the limit."""
    text = (text or "").strip()
    if not text:
        raise Invalid("Type a message first: the box is empty.", field="prompt")
    limit = settings.ARENA_LIVE_MAX_PROMPT_CHARS
    if len(text) > limit:
        raise Invalid(
            f"Your message has {len(text)} characters; this arena takes at most {limit}. Shorten it and "
            "send it again.",
            field="prompt",
        )
    return text


def turns_left_check(battle: LiveBattle) -> None:
    """Refuse (`Conflict`) one more turn or regeneration once a battle used ARENA_LIVE_MAX_TURNS of them."""
    used = len(battle.turns) + battle.regenerations
    if used >= settings.ARENA_LIVE_MAX_TURNS:
        raise Conflict(
            f"This battle has used its {settings.ARENA_LIVE_MAX_TURNS} turns (messages and regenerations): "
            "vote on it, or start a new round."
        )


def daily_battles_check(voter_key: str) -> None:
    """Refuse (`Throttled`) a new battle to a person who started ARENA_LIVE_BATTLES_PER_USER_PER_DAY in 24
    hours."""
    since = timezone.now() - timedelta(days=1)
    mine = LiveBattle.objects.filter(voter_key=voter_key, created__gte=since)
    limit = settings.ARENA_LIVE_BATTLES_PER_USER_PER_DAY
    if mine.count() >= limit:
        oldest = mine.order_by("created").values_list("created", flat=True).first()
        hours = math.ceil(((oldest or since) + timedelta(days=1) - timezone.now()).total_seconds() / 3600)
        raise Throttled(
            f"You have started {limit} live battles in the last 24 hours, this arena's daily limit. "
            f"Try again in about {max(hours, 1)} hour(s); voting on prepared battles (Vote) stays open.",
            retry_after=max(hours, 1) * 3600,
        )


def contenders_over_hourly_limit(contender_ids: list[int]) -> set[int]:
    """Those of `contender_ids` drawn into ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR battles in the last hour."""
    since = timezone.now() - timedelta(hours=1)
    recent = LiveBattle.objects.filter(created__gte=since)
    limit = settings.ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR
    counts: dict[int, int] = {}
    for side in ("contender_a", "contender_b"):
        rows = recent.filter(Q(**{f"{side}__in": contender_ids})).values(side).annotate(n=Count("pk"))
        for row in rows.order_by():
            counts[row[side]] = counts.get(row[side], 0) + row["n"]
    return {pk for pk, n in counts.items() if n >= limit}
