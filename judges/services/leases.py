"""Keeping a claim's lease (and its concurrency slot) alive while its worker is, so that a dead worker's
work is recovered within seconds rather than after the longest a call may take.

A claim starts with a short lease (`JUDGES_LEASE_SECONDS`). While the call runs, one keeper thread per worker
process extends the lease of every claim the process holds, every third of that time, with one UPDATE per
work model, and extends the claims' Redis concurrency slots the same way. A SIGKILLed worker stops renewing:
its rows' leases lapse within `JUDGES_LEASE_SECONDS` and the sweep (`judges.services.reconcile`) hands them to
another worker; its slots expire as fast. A claim is never renewed past `hard_s` after it was taken (the old
bound: two calls and a grace), so a call hung inside a live process still loses its row eventually.
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
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from judges.models import WorkStatus
from judges.services.limits import Slot, limits_backend

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Held:
    model: type
    slot: Slot | None
    renew_until: float  # time.monotonic() after which the lease is left to lapse


_lock = threading.Lock()
_held: dict[uuid.UUID, _Held] = {}
_keeper_pid: int | None = None


def lease_seconds_short() -> float:
    return float(settings.JUDGES_LEASE_SECONDS)


@contextlib.contextmanager
def lease_kept(model, *, token: uuid.UUID, slot: Slot | None, hard_s: float) -> Iterator[None]:
    """Renew the lease of the row claimed with `token` (and `slot`) until the block ends or `hard_s` pass.

    Inside a transaction (tests running judgments inline) the claim is invisible to the keeper's connection
    and its UPDATE would wait for the row lock: nothing is renewed there, and nothing needs to be."""
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
        time.sleep(max(0.5, lease_seconds_short() / 3))
        try:
            leases_renew()
        except (
            Exception
        ) as exc:  # a database or Redis outage: try again next round, leases may lapse meanwhile
            logger.warning("could not renew judge claim leases: %s", exc)
        finally:
            # A connection every few seconds is cheap; one kept open by an idle thread would outlive restarts.
            connection.close()


def leases_renew() -> int:
    """Extend every live claim this process holds; returns how many rows were extended."""
    now_mono = time.monotonic()
    with _lock:
        live = {token: held for token, held in _held.items() if held.renew_until > now_mono}
    if not live:
        return 0
    lease = lease_seconds_short()
    until = timezone.now() + timedelta(seconds=lease)
    by_model: dict[type, list[uuid.UUID]] = {}
    for token, held in live.items():
        by_model.setdefault(held.model, []).append(token)
    renewed = 0
    for model, tokens in by_model.items():
        renewed += model.objects.filter(claim_token__in=tokens, status=WorkStatus.RUNNING).update(
            lease_until=until
        )
    backend = limits_backend()
    for held in live.values():
        if held.slot is not None and held.slot.acquired:
            backend.renew(held.slot.key, held.slot.token, lease)
    return renewed
