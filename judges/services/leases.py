"""Keeping a claim's lease (and its concurrency slot) alive while its worker is, so that a dead worker's
work is recovered within seconds rather than after the longest a call may take.

A claim starts with a short lease (`JUDGES_LEASE_SECONDS`). While the call runs, one keeper thread per worker
process extends the lease of every claim the process holds, every third of that time: one UPDATE per work
model (`work_protocol.work_renew`) and one Redis round trip for all their concurrency slots. Renewing every
claim each round, not only those near their end, leaves two rounds of margin to a keeper slowed by a loaded
machine, and costs one statement per round whatever the number of claims. A SIGKILLed worker stops renewing: its rows' leases lapse within
`JUDGES_LEASE_SECONDS` and the sweep (`judges.services.reconcile`) hands them to another worker; its slots
expire as fast. A claim is never renewed past `hard_s` after it was taken (`work_protocol.lease_hard_seconds`),
so a call hung inside a live process still loses its row eventually.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from judges.services.limits import Slot, limits_backend
from judges.services.work_protocol import lease_short_seconds, work_renew

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Held:
    model: type
    slot: Slot | None
    renew_until: float  # time.monotonic() after which the lease is left to lapse


_lock = threading.Lock()
_held: dict[uuid.UUID, _Held] = {}
_keeper_pid: int | None = None


@contextlib.contextmanager
def lease_kept(model, *, token: uuid.UUID, slot: Slot | None, hard_s: float) -> Iterator[None]:
    """Renew the lease of the row claimed with `token` (and `slot`) until the block ends or `hard_s` pass.

    Inside a transaction (tests
    running judgments inline) the claim is invisible to the keeper's connection and its UPDATE would wait for
    the row lock: nothing is renewed there, and nothing needs to be."""
    if connection.in_atomic_block:
        yield
        return
    with _lock:
        _held[token] = _Held(model, slot, time.monotonic() + hard_s)
        _keeper_ensure()
    try:
        yield
    finally:
        with _lock:
            _held.pop(token, None)


def _keeper_ensure() -> None:
    """Start this process's keeper thread (again after a fork: threads do not survive one)."""
    global _keeper_pid
    if _keeper_pid == os.getpid():
        return
    _keeper_pid = os.getpid()
    threading.Thread(target=_keep, name="judges-lease-keeper", daemon=True).start()


def _keep() -> None:
    while True:
        time.sleep(max(0.5, lease_short_seconds() / 3))
        try:
            leases_renew()
        except (
            Exception
        ) as exc:  # a database or Redis outage: try again next round, leases may lapse meanwhile
            logger.warning("could not renew judge claim leases: %s", exc)
        finally:
            # Drop the connection if it broke or outlived CONN_MAX_AGE, as after a request.
            connection.close_if_unusable_or_obsolete()


def leases_renew() -> int:
    """Extend every live claim this process holds; returns how many rows were extended."""
    now = time.monotonic()
    with _lock:
        live = {token: held for token, held in _held.items() if held.renew_until > now}
    if not live:
        return 0
    lease = lease_short_seconds()
    by_model: dict[type, list[uuid.UUID]] = {}
    for token, held in live.items():
        by_model.setdefault(held.model, []).append(token)
    renewed = sum(work_renew(model, tokens=tokens, lease_s=lease) for model, tokens in by_model.items())
    slots = [held.slot for held in live.values() if held.slot is not None and held.slot.acquired]
    if slots:
        limits_backend().renew_many([(slot.key, slot.token) for slot in slots], lease)
    return renewed
