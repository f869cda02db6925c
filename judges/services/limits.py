"""Concurrency limits shared by every worker process, and the cool-down a 429 `Retry-After` imposes.

A limit is a Redis sorted set of slot tokens scored by their expiry; a Lua script drops expired slots,
then takes one if fewer than `limit` are held, atomically. A slot expires by itself after `hold_s`
(the judgment's lease), so a worker killed mid-call frees its slots once its leases have run out, without
anyone cleaning up.

A batch of calls made one after the other by one thread carries its slot from one call to the next
(`SlotCarry`): the slot is taken again with the same token, which the script counts as already held, so each
later call costs one script call instead of a release and an acquire, and the cool-down is still checked before
every call. The slot is then also held while the thread stores a result and loads the next one (a few
milliseconds next to a call), and released when the batch ends.

Run more worker threads than the limit, so calls stay in flight while threads load and store around them.
The extra threads wait for a slot without polling: each release pushes onto a short "wake" list that waiters
block on (BLPOP), in whichever worker process they are. A stale wake-up only costs one failed attempt.

Without Redis (the zero-setup demo: one worker process) the same contract is kept in-process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from django.conf import settings

logger = logging.getLogger(__name__)

_ACQUIRE = """
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 then return -cool end
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 60000)
  return 1
end
return 0
"""
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[2], 60000)
"""
_RENEW = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now_ms + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 60000)
end
"""
# Longest wait before trying again without a wake-up (slots that expired rather than being released).
_WAIT_S = 0.5


@dataclass(frozen=True)
class Slot:
    """`acquired` False means: try again in `retry_in` seconds (limit busy, or cooling down after a 429)."""

    key: str
    token: str
    acquired: bool
    retry_in: float = 0.0


class RedisLimits:
    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)
        self._renew = self._client.register_script(_RENEW)
        self._prefix = settings.JUDGES_LIMITS_PREFIX

    def _keys(self, key: str) -> tuple[str, str, str]:
        return f"{self._prefix}slots:{key}", f"{self._prefix}cool:{key}", f"{self._prefix}wake:{key}"

    def try_acquire(self, key: str, limit: int, hold_s: float, token: str) -> float:
        """1.0 when taken (or `token` still holds it: held again for `hold_s`), 0.0 when full, or minus the
        cool-down left in seconds."""
        slots, cool, _ = self._keys(key)
        result = int(self._acquire(keys=[slots, cool], args=[limit, int(hold_s * 1000), token]))
        return 1.0 if result == 1 else 0.0 if result == 0 else result / 1000

    def wait(self, key: str, limit: int, timeout: float) -> None:
        self._client.blpop([self._keys(key)[2]], timeout=timeout)

    def release(self, key: str, limit: int, token: str) -> None:
        slots, _, wake = self._keys(key)
        self._release(keys=[slots, wake], args=[token, limit])

    def renew(self, key: str, token: str, hold_s: float) -> None:
        """Hold a slot still held for another `hold_s` (a slot that already expired stays free)."""
        self.renew_many([(key, token)], hold_s)

    def renew_many(self, slots: list[tuple[str, str]], hold_s: float) -> None:
        """`renew` for several (key, token) slots, in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for key, token in slots:
            self._renew(keys=[self._keys(key)[0]], args=[token, int(hold_s * 1000)], client=pipe)
        pipe.execute()

    def cool_down(self, key: str, seconds: float) -> None:
        self._client.set(self._keys(key)[1], "1", px=max(1, int(seconds * 1000)))


class LocalLimits:
    """One process only: enough for the demo's single worker; multi-worker setups must use Redis."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._slots: dict[str, dict[str, float]] = {}
        self._cool: dict[str, float] = {}

    def try_acquire(self, key: str, limit: int, hold_s: float, token: str) -> float:
        now = time.monotonic()
        with self._changed:
            if self._cool.get(key, 0) > now:
                return -(self._cool[key] - now)
            held = {t: exp for t, exp in self._slots.get(key, {}).items() if exp > now}
            self._slots[key] = held
            if len(held) >= limit and token not in held:
                return 0.0
            held[token] = now + hold_s
            return 1.0

    def wait(self, key: str, limit: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def release(self, key: str, limit: int, token: str) -> None:
        with self._changed:
            self._slots.get(key, {}).pop(token, None)
            self._changed.notify()

    def renew(self, key: str, token: str, hold_s: float) -> None:
        self.renew_many([(key, token)], hold_s)

    def renew_many(self, slots: list[tuple[str, str]], hold_s: float) -> None:
        with self._changed:
            for key, token in slots:
                held = self._slots.get(key, {})
                if token in held:
                    held[token] = time.monotonic() + hold_s

    def cool_down(self, key: str, seconds: float) -> None:
        with self._changed:
            self._cool[key] = time.monotonic() + seconds


@cache
def limits_backend() -> RedisLimits | LocalLimits:
    url = settings.JUDGES_LIMITS_REDIS_URL
    return RedisLimits(url) if url else LocalLimits()


@dataclass
class SlotCarry:
    """The slot a batch carries from one call to the next; `carry_release` gives it back when the batch ends."""

    held: Slot | None = None
    limit: int = 1  # the held slot's limit (the wake list a release pushes onto is trimmed to it)


@contextlib.contextmanager
def concurrency_slot(
    key: str, *, limit: int, hold_s: float, wait_s: float, carry: SlotCarry | None = None
) -> Iterator[Slot]:
    """Hold one of `limit` slots for `key` for the duration of the block (at most `hold_s`).

    Waits up to `wait_s` for a free slot; yields an unacquired Slot (with `retry_in`) if none came free or
    the key is cooling down, so the caller can reschedule instead of blocking a worker thread for long.
    With `carry`, the slot it holds is taken again (same token) and is kept past the block, in `carry`,
    for the batch's next call; it is released at once only when the block raises or the slot is not had.
    """
    backend = limits_backend()
    if carry is not None and carry.held is not None and carry.held.key != key:
        carry_release(carry)
    token = carry.held.token if carry is not None and carry.held is not None else uuid.uuid4().hex
    deadline = time.monotonic() + wait_s
    while True:
        state = backend.try_acquire(key, limit, hold_s, token)
        left = deadline - time.monotonic()
        if state != 0 or left <= 0:
            break
        backend.wait(key, limit, min(_WAIT_S, left))
    slot = Slot(key=key, token=token, acquired=state > 0)
    if carry is not None:
        carry.limit = limit
        # Cooling down: the token may still hold its slot from the last call; give it back now.
        carry.held = slot
        if not slot.acquired:
            carry_release(carry)
    if not slot.acquired:
        yield Slot(key=key, token=token, acquired=False, retry_in=-state if state < 0 else 0.5)
        return
    kept = False
    try:
        yield slot
        kept = carry is not None
    finally:
        if not kept:
            _release_quietly(backend, key, limit, token)
            if carry is not None:
                carry.held = None


def carry_release(carry: SlotCarry) -> None:
    """Give back the slot a batch carried, if any."""
    if carry.held is not None:
        _release_quietly(limits_backend(), carry.held.key, carry.limit, carry.held.token)
        carry.held = None


def cool_down(key: str, seconds: float) -> None:
    """Stop every worker from taking `key` slots for `seconds` (an endpoint's Retry-After)."""
    limits_backend().cool_down(key, seconds)


def _release_quietly(backend: RedisLimits | LocalLimits, key: str, limit: int, token: str) -> None:
    try:
        backend.release(key, limit, token)
    except Exception:  # the slot expires on its own; a Redis hiccup must not fail a paid, finished call
        logger.warning("could not release concurrency slot %s; it expires with its lease", key, exc_info=True)
