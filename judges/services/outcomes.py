"""What a failed call does to its work item, for judgments and generations alike.

- transient (timeout, reset, 429, 5xx, garbled reply): the row goes back to pending with the error shown and
  is retried after exponential backoff with jitter, never sooner than the endpoint's `Retry-After` (a 429
  with one also pauses every worker's calls on that limit key); after `JUDGES_MAX_ATTEMPTS` attempts it fails;
- permanent (400, 401, 403, 404, missing key, unknown provider): fails at once, without retries. When the
  error is about the configuration rather than this one request (401/403/404, key, provider), every pending
  item sharing it fails with the same message, so a wrong key costs one round of calls, not a campaign.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from judges.models import ErrorKind, WorkStatus
from judges.models.work import WorkItem
from judges.providers import PermanentProviderError, TransientProviderError, UnknownProviderError
from judges.services.calls import CONFIG_LEVEL_STATUSES, Spend, backoff_seconds
from judges.services.lifecycle import campaign_items_halt
from judges.services.limits import cool_down
from judges.services.secrets import ApiKeyMissingError, redact
from judges.services.work_protocol import attempts_exhausted, work_release, work_settle

FINISHED = frozenset({"done", "reused", "parse_failed", "failed"})


@dataclass(frozen=True)
class RunResult:
    """`outcome`: done, reused, parse_failed, failed, retry, busy (no free slot) or skipped (not ours).
    `retry_in` (seconds) asks the task to run again later."""

    outcome: str
    retry_in: float | None = None

    @property
    def finished(self) -> bool:
        return self.outcome in FINISHED


@dataclass(frozen=True)
class Failure:
    """A failed call on a claimed row: which row, what was spent, which limit key and scope it belongs to."""

    model: type[WorkItem]
    job: WorkItem
    token: uuid.UUID
    spend: Spend
    api_key: str
    limit_key: str
    scope: dict


def after_transient(failure: Failure, exc: TransientProviderError) -> RunResult:
    job, message = failure.job, redact(exc.message, failure.api_key)
    attempts = job.attempts + 1  # the claim counted this one
    if exc.status == 429 and exc.retry_after:
        cool_down(failure.limit_key, exc.retry_after)
    kind, spent = ErrorKind.TRANSIENT, failure.spend.as_spent()
    if attempts_exhausted(attempts):
        error = f"gave up after {attempts} attempts; last error: {message}"
        landed = work_settle(
            failure.model, pk=job.pk, token=failure.token, status=WorkStatus.FAILED, error=error,
            error_kind=kind, spent=spent,
        )  # fmt: skip
        return RunResult("failed" if landed else "skipped")
    retry_in = backoff_seconds(attempts, exc.retry_after)
    landed = work_release(
        failure.model, pk=job.pk, token=failure.token, retry_in=retry_in, error=message, error_kind=kind,
        spent=spent,
    )  # fmt: skip
    return RunResult("retry", retry_in=retry_in) if landed else RunResult("skipped")


def after_permanent(failure: Failure, exc: PermanentProviderError) -> RunResult:
    job, message = failure.job, redact(exc.message, failure.api_key)
    landed = work_settle(
        failure.model, pk=job.pk, token=failure.token, status=WorkStatus.FAILED, error=message,
        error_kind=ErrorKind.PERMANENT, spent=failure.spend.as_spent(),
    )  # fmt: skip
    if exc.status in CONFIG_LEVEL_STATUSES or isinstance(exc, ApiKeyMissingError | UnknownProviderError):
        campaign_items_halt(campaign_id=job.campaign_id, message=message, **failure.scope)
    return RunResult("failed" if landed else "skipped")
