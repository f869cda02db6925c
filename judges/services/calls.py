"""Making one provider call on behalf of a claimed work item: spend accounting, backoff, cost.

Shared by judging and generation, so both count tokens, price calls and back off the same way.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from judges.models import PaidCall
from judges.providers import (
    CompletionRequest,
    PermanentProviderError,
    ProviderResponse,
    TransientProviderError,
    get_provider,
)
from judges.services.judgment_sql import CallEnd, paid_call_ended, paid_call_sent
from judges.services.secrets import redact

_MILLION = Decimal(1_000_000)
_COST_PLACES = Decimal("0.00000001")

# HTTP statuses that say the judge's configuration is wrong for every call, not just this one.
CONFIG_LEVEL_STATUSES = frozenset({401, 403, 404})


@dataclass
class Ledger:
    """Where a claim's calls are recorded (`judges.models.PaidCall`): the campaign, the item, the claim.
    `written_call_id`: the row of the next call, when it was written together with the claim."""

    campaign_id: int
    item_id: int
    claim_token: uuid.UUID
    written_call_id: int | None = None
    # With `defer_end`, an answered call's completion is kept in `end_due` instead of written at once, for
    # the caller to write with its settle statement (`judgment_sql.judgment_finish`): one statement less per
    # judgment. It is written on its own before the next call is sent, or by `flush`, which the caller runs
    # however its run ends (`judging._run`): only a killed process leaves an answered call "sent".
    defer_end: bool = False
    end_due: CallEnd | None = None

    def take_end(self) -> CallEnd | None:
        """The completion still to write, now the caller's to write."""
        due, self.end_due = self.end_due, None
        return due

    def flush(self) -> None:
        """Write a completion still kept (a caller that will not settle the row after all)."""
        due = self.take_end()
        if due is not None:
            paid_call_ended(due.call_id, **due.values())


@dataclass
class Spend:
    """Tokens and money spent by one claim, across its calls (the first answer and any repair). With a
    `ledger`, each call is also recorded in `PaidCall` before it is sent and when it ends."""

    price_in: Decimal = Decimal(0)
    price_out: Decimal = Decimal(0)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    responses: list[ProviderResponse] = field(default_factory=list)
    ledger: Ledger | None = None

    def add(self, response: ProviderResponse) -> None:
        self.tokens_in += response.tokens_in
        self.tokens_out += response.tokens_out
        self.latency_s += response.latency_s
        self.responses.append(response)

    @property
    def cost(self) -> Decimal:
        return self.cost_of(self.tokens_in, self.tokens_out)

    def cost_of(self, tokens_in: int, tokens_out: int) -> Decimal:
        raw = (tokens_in * self.price_in + tokens_out * self.price_out) / _MILLION
        return raw.quantize(_COST_PLACES)

    def as_spent(self) -> dict:
        """What this claim spent, to add to a row that may hold earlier attempts' spend (see
        `work_protocol.SPEND_FIELDS`)."""
        return {"tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "cost": self.cost}


def provider_complete(provider_name: str, request: CompletionRequest, spend: Spend) -> ProviderResponse:
    """One call through the registry. Anything a provider lets escape besides its two error kinds (a bug, an
    SDK surprise) becomes a transient error: retried a bounded number of times, then shown as a failure."""
    provider = get_provider(provider_name)
    call_id = _call_sent(spend.ledger)
    try:
        response = provider.complete(request)
    except (TransientProviderError, PermanentProviderError):
        _call_ended(call_id, spend)
        raise
    except Exception as exc:
        _call_ended(call_id, spend)
        message = redact(
            f"unexpected {type(exc).__name__} from provider {provider_name!r}: {exc}", request.api_key
        )
        raise TransientProviderError(message, provider=provider_name) from None
    spend.add(response)
    _call_ended(call_id, spend, response)
    return response


def _call_sent(ledger: Ledger | None) -> int | None:
    """The ledger row written before the request leaves, so a worker killed mid-call still leaves it."""
    if ledger is None:
        return None
    ledger.flush()  # the previous call's completion first (a repair after an answer that did not parse)
    if ledger.written_call_id is not None:
        call_id, ledger.written_call_id = ledger.written_call_id, None
        return call_id
    return paid_call_sent(ledger.campaign_id, ledger.item_id, ledger.claim_token)


def _call_ended(call_id: int | None, spend: Spend, response: ProviderResponse | None = None) -> None:
    if call_id is None:
        return
    if response is None:
        paid_call_ended(call_id, outcome=PaidCall.Outcome.FAILED.value)
        return
    end = CallEnd(call_id, PaidCall.Outcome.ANSWERED.value, response.tokens_in, response.tokens_out,
                  spend.cost_of(response.tokens_in, response.tokens_out))  # fmt: skip
    if spend.ledger is not None and spend.ledger.defer_end:
        spend.ledger.end_due = end
    else:
        paid_call_ended(call_id, **end.values())


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter for retry number `attempt` (1-based), never sooner than the
    endpoint's `Retry-After`. "Equal jitter": half fixed, half random, so retries spread but still grow."""
    base = settings.JUDGES_BACKOFF_BASE_MS / 1000
    cap = settings.JUDGES_BACKOFF_MAX_MS / 1000
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, retry_after or 0.0)
