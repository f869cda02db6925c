"""Throttling sign-ups and sign-ins, counted in Django's cache (Redis in production).

- Sign-ups: at most ARENA_SIGNUP_PER_HOUR_IP accounts created per client IP per clock hour.
- Sign-ins: ARENA_SIGNIN_FAILURES_PER_ACCOUNT failed attempts on one username, or ARENA_SIGNIN_FAILURES_PER_IP
  from one address, within ARENA_SIGNIN_LOCKOUT_SECONDS lock that username (or address) out for that long.
  While locked, even the right password is refused, so guessing gains nothing; a success clears the
  account's failures.

- Verification mails: at most ARENA_VERIFICATION_MAILS_PER_HOUR per account per clock hour (each one mails an
  address the account chose: unthrottled, the form would mail anyone, any number of times).

A refusal is a `ThrottleRefusal` (message + seconds to wait); views answer it with 429 and Retry-After. When the
cache is unreachable the throttle lets requests through (logged): a Redis outage must not lock everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)
HOUR = 3600


@dataclass(frozen=True)
class ThrottleRefusal:
    message: str
    retry_after: int


def _key(*parts: str) -> str:
    # Usernames are user input: hash them so any text makes a valid, bounded cache key.
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"throttle:{parts[0]}:{digest}"


def _incr(key: str, timeout: int) -> int:
    cache = caches["default"]
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


def _guarded(default):
    def wrap(function):
        def inner(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception:  # noqa: BLE001 - any cache failure: let the request through, say so in the log
                logger.warning(
                    "throttle cache unavailable; %s not enforced", function.__name__, exc_info=True
                )
                return default

        return inner

    return wrap


@_guarded(None)
def signup_check(*, ip: str) -> ThrottleRefusal | None:
    """Refuse a sign-up from `ip` when this hour's budget is spent (counting is `signup_count`)."""
    window = int(time.time() // HOUR)
    used = caches["default"].get(_key("signup", ip, str(window)), 0)
    if used >= settings.ARENA_SIGNUP_PER_HOUR_IP:
        wait = HOUR - int(time.time()) % HOUR
        return ThrottleRefusal(
            f"Too many accounts created from your network address: at most "
            f"{settings.ARENA_SIGNUP_PER_HOUR_IP} an hour. Try again in {_minutes(wait)}.",
            wait,
        )
    return None


@_guarded(None)
def verification_mail_take(*, user_id: int) -> ThrottleRefusal | None:
    """Count one verification mail for the account, or refuse it when this hour's budget is spent."""
    window = int(time.time() // HOUR)
    used = _incr(_key("verify-mail", str(user_id), str(window)), HOUR + 60)
    if used > settings.ARENA_VERIFICATION_MAILS_PER_HOUR:
        wait = HOUR - int(time.time()) % HOUR
        return ThrottleRefusal(
            f"Too many confirmation mails for this account: at most {settings.ARENA_VERIFICATION_MAILS_PER_HOUR} "
            f"an hour. Try again in {_minutes(wait)}.",
            wait,
        )
    return None


@_guarded(None)
def signup_count(*, ip: str) -> None:
    window = int(time.time() // HOUR)
    _incr(_key("signup", ip, str(window)), HOUR + 60)


def _lock_left(key: str) -> int:
    until = caches["default"].get(key)
    return max(1, math.ceil(until - time.time())) if until and until > time.time() else 0


@_guarded(None)
def signin_check(*, username: str, ip: str) -> ThrottleRefusal | None:
    """Refuse a sign-in attempt while the username or the address is locked out."""
    account = _lock_left(_key("signin-lock", username.strip().lower()))
    if account:
        return ThrottleRefusal(
            f"Too many failed sign-ins for this account: it is locked for {_minutes(account)}. "
            "Wait, then try again (or reset the password).",
            account,
        )
    address = _lock_left(_key("signin-lock-ip", ip))
    if address:
        return ThrottleRefusal(
            f"Too many failed sign-ins from your network address: try again in {_minutes(address)}.", address
        )
    return None


@_guarded(None)
def signin_failed(*, username: str, ip: str) -> None:
    """Count a failed attempt; reaching a limit starts the lockout."""
    window = settings.ARENA_SIGNIN_LOCKOUT_SECONDS
    cache = caches["default"]
    for kind, who, limit in (
        ("signin", username.strip().lower(), settings.ARENA_SIGNIN_FAILURES_PER_ACCOUNT),
        ("signin-ip", ip, settings.ARENA_SIGNIN_FAILURES_PER_IP),
    ):
        if _incr(_key(kind, who), window) >= limit:
            lock = kind.replace("signin", "signin-lock", 1)
            cache.set(_key(lock, who), time.time() + window, window)
            cache.delete(_key(kind, who))


@_guarded(None)
def signin_succeeded(*, username: str) -> None:
    caches["default"].delete(_key("signin", username.strip().lower()))


def _minutes(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"
