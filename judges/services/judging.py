"""Running one judgment: claim → (reuse | call → parse → one repair) → store → settle the battle.

A reply that cannot be parsed gets one repair request (the judge's reply is sent back with the parse error
and the required format); if that fails too the judgment is `parse_failed` with both raw replies kept, never
a tie. Call failures are handled by `outcomes` (transient: backoff and retry; permanent: fail fast).

Kept lean on purpose, since it runs once per judge call: one statement loads the row with the battle's
texts, the version and config come from a per-process cache, one statement claims the row and writes the
ledger row of its call, one completes that ledger row, stores the result and sees whether the battle's
other order is settled already (`judgment_sql`); once per battle come its verdicts.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from judges.models import ErrorKind, Judgment, WorkStatus
from judges.prompting import repair_messages
from judges.providers import (
    CompletionRequest,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from judges.services.calls import Ledger, Spend, provider_complete
from judges.services.consistency import Pair, battle_finalize
from judges.services.judgment_sql import (
    Finished,
    JudgmentRow,
    campaign_has_active_judgments,
    judgment_claim_recording_call,
    judgment_finish,
    judgment_load,
    judgment_load_many,
    judgment_reusable,
)
from judges.services.leases import lease_kept
from judges.services.lifecycle import campaign_finish_if_done
from judges.services.limits import SlotCarry, carry_release, concurrency_slot
from judges.services.outcomes import Failure, RunResult, after_permanent, after_transient
from judges.services.requests import JudgeTexts, judge_request
from judges.services.runtime import JudgeRuntime, judge_runtime
from judges.services.secrets import api_key_resolve, redact, redact_data
from judges.services.work_protocol import lease_hard_seconds, lease_short_seconds, work_claim
from judges.verdict_parsing import ParseResult, VerdictParseError, parse_verdicts


@dataclass(frozen=True)
class _Answer:
    first_text: str
    repair_text: str = ""
    parsed: ParseResult | None = None
    parse_error: str = ""


@dataclass
class _Call:
    spend: Spend
    api_key: str = ""
    request: CompletionRequest | None = None  # built before the claim: nothing after it can refuse the call
    answer: _Answer | None = None
    error: ProviderError | None = None


@dataclass(frozen=True)
class _Stored:
    result: RunResult
    pair: Pair | None = None  # both orders, when this statement saw the other one settled already


def judgment_run(*, judgment_id: int) -> RunResult:
    """Do the judgment if it is still pending in a running campaign; safe to call for any id, any number
    of times (a duplicate message, a redelivery after a crash): only the one claim that lands does work."""
    job = judgment_load(judgment_id)
    if job is None or job.status != WorkStatus.PENDING:
        return RunResult("skipped")
    return _run(job)


def judgments_run(
    judgment_ids: list[int], *, on_retry: Callable[[int, float], None] | None = None
) -> dict[int, RunResult]:
    """`judgment_run` for a batch, one after the other, with less per judgment: the rows are loaded in one
    statement, and the concurrency slot is carried from one call to the next (`limits.SlotCarry`).

    A row loaded as pending may have been claimed elsewhere since: its claim does not land ("skipped"). A
    request answered earlier in this batch is reused by the rows after it that send the same request, as a
    fresh load would have found it. Whether a campaign is done is checked once, when the batch ends, not
    after each battle it settled: a later check sees at least what an earlier one would have (each row's
    own status was committed before it), so the last row of a campaign still finishes it. `on_retry(id,
    seconds)` is told of each row that must wait as soon as it is known, and the campaigns are checked even
    when a later row raises: an error mid-batch loses neither the earlier rows' retries nor the check."""
    jobs = judgment_load_many(judgment_ids)
    answered: dict[str, int] = {}  # content key → a judgment of this batch that got it answered
    results: dict[int, RunResult] = {}
    to_check: set[int] = set()  # campaigns a settled battle may have finished
    later = _later_orders(judgment_ids, jobs)
    waiting: dict[tuple[int, int], JudgmentRow] = {}  # battles whose settle is left to their other order
    carry = SlotCarry()
    try:
        for pk in judgment_ids:
            job = jobs.get(pk)
            if job is None or job.status != WorkStatus.PENDING or pk in results:
                results.setdefault(pk, RunResult("skipped"))
                _settle_left(waiting, job, to_check)
                continue
            if job.reusable_id is None and job.content_key in answered:
                job = dataclasses.replace(job, reusable_id=answered[job.content_key])
            results[pk] = _run(job, carry, to_check, waiting if pk in later else None)
            if not results[pk].finished:
                _settle_left(waiting, job, to_check)
            elif pk not in later:  # its settle saw the first order's, committed: the battle is settled now
                waiting.pop((job.battle_id, job.config_version_id), None)
            if results[pk].outcome == "done":
                answered[job.content_key] = pk
            retry_in = results[pk].retry_in
            if retry_in is not None and on_retry is not None:
                on_retry(pk, retry_in)
    finally:
        carry_release(carry)
        try:
            for first in list(waiting.values()):  # an error ended the batch before their other order
                _settle_left(waiting, first, to_check)
        finally:
            for campaign_id in sorted(to_check):
                _finish_if_done(campaign_id)
    return results


def _later_orders(judgment_ids: list[int], jobs: dict[int, JudgmentRow]) -> set[int]:
    """The pending rows of the batch whose battle's other order (same judge version) comes after them in it."""
    seen: set[tuple[int, int]] = set()
    later: set[int] = set()
    for pk in reversed(judgment_ids):
        job = jobs.get(pk)
        if job is None or job.status != WorkStatus.PENDING:
            continue
        key = (job.battle_id, job.config_version_id)
        if key in seen:
            later.add(pk)
        seen.add(key)
    return later


def _settle_left(
    waiting: dict[tuple[int, int], JudgmentRow], job: JudgmentRow | None, to_check: set[int]
) -> None:
    """The battle's other order was left to settle it and will not (skipped, busy, retried later): read both
    orders again, as `_run` would have right after the first one's settle, and settle the battle if due."""
    if job is None:
        return
    first = waiting.pop((job.battle_id, job.config_version_id), None)
    if first is None:
        return
    settled = battle_finalize(
        battle=first.battle, version_id=first.config_version_id, campaign_id=first.campaign_id
    )
    if not settled.waiting:
        to_check.add(first.campaign_id)


def _finish_if_done(campaign_id: int) -> None:
    if not campaign_has_active_judgments(campaign_id):
        campaign_finish_if_done(campaign_id=campaign_id, model=Judgment)


def _run(
    job: JudgmentRow,
    carry: SlotCarry | None = None,
    to_check: set[int] | None = None,
    waiting: dict[tuple[int, int], JudgmentRow] | None = None,
) -> RunResult:
    """One loaded, pending row. `to_check`: where to leave the campaign to check for being done, for the
    caller to check later; None checks it here. `waiting` (a batch whose later row is this battle's other
    order): when the settle saw that order unfinished, the battle is left there instead of read again now;
    the batch settles it after that row (whose own settle sees this one's), or reads it then."""
    runtime = judge_runtime(job.config_version_id)
    config = runtime.config
    # Claims and slots start with a short lease that this process renews while the call runs
    # (`judges.services.leases`), up to the longest the call may take.
    lease, hard = lease_short_seconds(), lease_hard_seconds(config.timeout_seconds)
    wait = settings.JUDGES_SLOT_WAIT_SECONDS
    call: _Call | None = None
    try:
        with concurrency_slot(
            runtime.limit_key, limit=config.concurrency_limit, hold_s=lease, wait_s=wait, carry=carry
        ) as slot:
            if not slot.acquired:
                return RunResult("busy", retry_in=slot.retry_in)
            token = uuid.uuid4()
            call = None if job.reusable_id is not None else _call_prepare(job, runtime, token)
            claimed = _claim(job, token, lease, call)
            if claimed is None:  # also refused when the campaign is paused or cancelled
                return RunResult("skipped")
            job = claimed
            if job.reusable_id is not None:  # found when loaded, or by the claim: copied, not paid for again
                call = None
            # The slot covers the claim (the record written before paying) and the call; the writes after
            # only when a batch carries it on to its next call.
            with lease_kept(Judgment, token=token, slot=slot, hard_s=hard):
                if call is not None and call.error is None:
                    _call_make(runtime, call)
        stored = _store(job, runtime, token, call)
    finally:
        # An answered call's completion is normally written by the settle statement (`_store_answer` takes
        # it, and then this writes nothing). Whatever else ends the run once a reply has arrived (an error
        # while parsing or asking for the repair, a lost connection while storing, a bug) still writes it
        # here, so that the ledger shows the call answered and what it cost. Only a process killed between
        # the reply and this write leaves the call "sent", as a kill during the call does.
        if call is not None and call.spend.ledger is not None:
            call.spend.ledger.flush()
    if stored.result.finished and stored.pair is None and waiting is not None:
        waiting[(job.battle_id, job.config_version_id)] = job
    elif stored.result.finished:
        settled = battle_finalize(
            battle=job.battle, version_id=job.config_version_id, campaign_id=job.campaign_id, pair=stored.pair
        )
        # While this battle's other order is still to come, the campaign cannot be done: skip the check.
        if not settled.waiting and to_check is not None:
            to_check.add(job.campaign_id)
        elif not settled.waiting:
            _finish_if_done(job.campaign_id)
    return stored.result


def _call_prepare(job: JudgmentRow, runtime: JudgeRuntime, token: uuid.UUID) -> _Call:
    """Everything the call needs before the claim, so that the claim can record it (or its refusal)."""
    config = runtime.config
    # The answered call's ledger row is completed by the settle statement (`_store_answer`).
    ledger = Ledger(campaign_id=job.campaign_id, item_id=job.pk, claim_token=token, defer_end=True)
    owner = f"judge config {config.slug!r}"
    try:
        _numbers_check(runtime, owner)
    except PermanentProviderError as exc:  # nothing is sent, so nothing is priced (not even 0 × NaN)
        return _Call(spend=Spend(ledger=ledger), error=exc)
    prices = {"price_in": config.price_input_per_mtok, "price_out": config.price_output_per_mtok}
    call = _Call(spend=Spend(**prices, ledger=ledger))
    try:
        call.api_key = api_key_resolve(
            env_name=config.api_key_env, file_path=config.api_key_file, owner=owner
        )
        call.request = _request(job, runtime, call.api_key)
    except PermanentProviderError as exc:
        call.error = exc
    return call


def _numbers_check(runtime: JudgeRuntime, owner: str) -> None:
    """Refuse a price or temperature that is not a finite number before anything is claimed or sent: a NaN
    price was only refused when the paid call's cost was stored (and then retried, paid again), and JSON has
    no NaN to send as a temperature."""
    config, version = runtime.config, runtime.version
    numbers = {
        "price per million input tokens": config.price_input_per_mtok,
        "price per million output tokens": config.price_output_per_mtok,
        "temperature": version.temperature,
    }
    for name, value in numbers.items():
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            raise PermanentProviderError(
                f"{owner}: its {name} is {value}, not a number; set it to a finite number in the judge's "
                "config (prices 0 or more, temperature from 0 to 2)",
                provider=version.provider,
            )


def _request(job: JudgmentRow, runtime: JudgeRuntime, api_key: str) -> CompletionRequest:
    version = runtime.version
    texts = JudgeTexts.for_order(
        order=job.order, question=job.question, output_a=job.output_a, output_b=job.output_b,
        reference=job.reference, version=version, later_turns=job.later_turns, system=job.system_message,
        later_a=job.later_a, later_b=job.later_b,
    )  # fmt: skip
    try:
        return judge_request(version, texts, api_key=api_key, timeout_s=runtime.config.timeout_seconds)
    except ValueError as exc:  # e.g. a conversation whose stored replies do not match its turns
        raise PermanentProviderError(
            f"battle #{job.battle_id} cannot be judged: {exc}", provider=version.provider
        ) from None


def _claim(job: JudgmentRow, token: uuid.UUID, lease: float, call: _Call | None) -> JudgmentRow | None:
    """Claim the row; when a call is to be sent, its ledger row is written by the same statement, unless
    that statement finds the request answered by now (another worker judged a twin since this row was
    loaded): then no call is recorded and the row comes back with the twin to copy. None: not claimed."""
    if call is None or call.error is not None:
        return job if work_claim(Judgment, pk=job.pk, lease_s=lease, token=token) is not None else None
    claimed = judgment_claim_recording_call(job.pk, token, lease, content_key=job.content_key)
    if claimed is None:
        return None
    if claimed.twin_id is not None:
        return dataclasses.replace(job, reusable_id=claimed.twin_id)
    assert call.spend.ledger is not None  # set by _call_prepare
    call.spend.ledger.written_call_id = claimed.call_id
    return job


def _call_make(runtime: JudgeRuntime, call: _Call) -> None:
    assert call.request is not None  # built by _call_prepare, or call.error is set
    try:
        call.answer = _ask(runtime, call.request, call.spend)
    except (TransientProviderError, PermanentProviderError) as exc:
        call.error = exc


def _store(job: JudgmentRow, runtime: JudgeRuntime, token, call: _Call | None) -> _Stored:
    if call is None:
        return _store_reused(job, token, judgment_reusable(job.reusable_id))
    if call.error is not None:
        scope = {"config_version_id": job.config_version_id}
        failure = Failure(Judgment, job, token, call.spend, call.api_key, runtime.limit_key, scope)
        handle = after_transient if isinstance(call.error, TransientProviderError) else after_permanent
        return _Stored(handle(failure, call.error))
    return _store_answer(job, token, call.answer, call.spend, call.api_key)


def _ask(runtime: JudgeRuntime, request: CompletionRequest, spend: Spend) -> _Answer:
    version = runtime.version
    dims = version.dimension_slugs
    first = provider_complete(version.provider, request, spend).text
    try:
        return _Answer(first_text=first, parsed=parse_verdicts(first, dims))
    except VerdictParseError as problem:
        first_problem = problem.message  # `problem` is unbound once the except block ends
        messages = repair_messages(request.messages, first, dims, problem=first_problem)
        second = provider_complete(
            version.provider, dataclasses.replace(request, messages=messages), spend
        ).text
    try:
        return _Answer(first_text=first, repair_text=second, parsed=parse_verdicts(second, dims))
    except VerdictParseError as final:
        why = f"first reply: {first_problem}; reply to the repair request: {final.message}"
        return _Answer(first_text=first, repair_text=second, parse_error=why)


def _store_answer(job: JudgmentRow, token, answer: _Answer, spend: Spend, api_key: str) -> _Stored:
    """Store the judge's reply, with the key redacted from everything it sent back (a server may echo it)."""
    fields = {
        "raw_text": redact(answer.first_text, api_key),
        "repair_raw_text": redact(answer.repair_text, api_key),
        "raw_response": redact_data([response.raw for response in spend.responses], api_key),
        "latency_ms": round(spend.latency_s * 1000),
        "spent": spend.as_spent(),
    }
    if answer.parsed is None:
        status, outcome = WorkStatus.PARSE_FAILED, "parse_failed"
        fields.update(parse_error=redact(answer.parse_error, api_key), error_kind=ErrorKind.PARSE)
    else:
        status, outcome = WorkStatus.DONE, "done"
        fields.update(verdicts=answer.parsed.verdicts, rationale=redact(answer.parsed.rationale, api_key))
    end = spend.ledger.end_due if spend.ledger is not None else None
    finished = judgment_finish(job.pk, token, status=status, call_end=end, **fields)
    if spend.ledger is not None:
        spend.ledger.take_end()  # written by the settle statement
    return _Stored(RunResult(outcome if finished.landed else "skipped"), _pair(job, status, fields, finished))


def _store_reused(job: JudgmentRow, token, source: dict) -> _Stored:
    """The same request was answered before: copy its result, spend nothing, and say where it came from."""
    copied = {k: source[k] for k in ("verdicts", "rationale", "raw_text", "repair_raw_text", "raw_response")}
    origin = source["origin"]  # the first paid judgment of this request
    finished = judgment_finish(
        job.pk, token, status=WorkStatus.DONE, reused_from=origin, latency_ms=0, **copied
    )
    return _Stored(
        RunResult("reused" if finished.landed else "skipped"), _pair(job, WorkStatus.DONE, copied, finished)
    )


def _pair(job: JudgmentRow, status: str, fields: dict, finished: Finished) -> Pair | None:
    """Both orders as the settle statement saw them, when that is final: this one just settled, the other
    one settled before (committed, so never to change). Otherwise None: the pair is read after the commit."""
    other = finished.other
    if other is None or other.status not in (WorkStatus.DONE, WorkStatus.PARSE_FAILED, WorkStatus.FAILED):
        return None
    return {
        job.order: (job.pk, status, fields.get("verdicts")),
        other.order: (other.pk, other.status, other.verdicts),
    }
