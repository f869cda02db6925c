"""Generating missing outputs from contenders' own OpenAI-compatible endpoints.

A "generate" campaign holds one `Generation` per missing (contender, prompt); each goes through the same
claim, provider layer, limits, retries and progress display as judgments, then becomes an arena Output with
its style counts. Endpoint calls are limited per contender by `JUDGES_GENERATION_CONCURRENCY`; generations
have no price (contenders carry none), so their spend shows tokens only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from arena.errors import DomainError, Invalid
from arena.models import Contender, Output
from arena.services.endpoints import endpoint_key_name_check, endpoint_url_check
from arena.services.outputs import output_build
from arena.services.prompts import prompt_set_get
from judges.models import Campaign, ErrorKind, Generation, WorkStatus
from judges.providers import CompletionRequest, PermanentProviderError, TransientProviderError
from judges.services.calls import Ledger, Spend, provider_complete
from judges.services.campaigns import contenders_resolve
from judges.services.enqueue import work_enqueue
from judges.services.leases import lease_kept
from judges.services.lifecycle import campaign_finish_if_done
from judges.services.limits import concurrency_slot
from judges.services.outcomes import Failure, RunResult, after_permanent, after_transient
from judges.services.secrets import api_key_check, api_key_resolve, redact, redact_data
from judges.services.work_protocol import lease_hard_seconds, lease_short_seconds, work_claim, work_settle

PROVIDER = "openai"  # contender endpoints are OpenAI-compatible by definition (see Contender.endpoint_url)


def generation_missing(*, contender_slugs: list[str], prompt_set_slug: str) -> tuple[Campaign, list, list]:
    """Validate a generation request; returns (unsaved campaign, contenders, [(contender, prompt), ...])."""
    prompt_set = prompt_set_get(slug=prompt_set_slug)
    contenders = contenders_resolve(contender_slugs, minimum=1)
    for contender in contenders:
        _check_endpoint(contender)
    prompts = list(prompt_set.prompts.all())
    answered = set(
        Output.objects.filter(contender__in=contenders, prompt__in=prompts).values_list(
            "contender_id", "prompt_id"
        )
    )
    missing = [(c, p) for c in contenders for p in prompts if (c.pk, p.pk) not in answered]
    if not missing:
        raise Invalid(
            f"Every chosen contender already has an output for each prompt of {prompt_set.slug!r}; nothing "
            "to generate.",
            field="contenders",
        )
    campaign = Campaign(
        kind=Campaign.Kind.GENERATE, plan=Campaign.Plan.MISSING_OUTPUTS, prompt_set=prompt_set
    )
    # A conversation is one call per turn, each resending the turns before it (replies counted at the cap).
    campaign.est_calls = sum(len(p.user_turns) for _, p in missing)
    campaign.est_tokens_in = sum(_conversation_tokens_in(p) for _, p in missing)
    campaign.est_tokens_out = campaign.est_calls * settings.JUDGES_GENERATION_MAX_TOKENS
    return campaign, contenders, missing


def _conversation_tokens_in(prompt) -> int:
    """Estimated input tokens of generating one output: each call resends the conversation so far."""
    total, sent = 0, len(prompt.system_message)
    for number, turn in enumerate(prompt.user_turns):
        sent += len(turn) + (4 * settings.JUDGES_GENERATION_MAX_TOKENS if number else 0)
        total += -(-sent // 4)
    return total


def generation_start(
    *, contender_slugs: list[str], prompt_set_slug: str, name: str = "", created_by=None
) -> Campaign:
    campaign, contenders, missing = generation_missing(
        contender_slugs=contender_slugs, prompt_set_slug=prompt_set_slug
    )
    campaign.name = (name.strip() or f"Generate {len(missing)} outputs on {campaign.prompt_set.slug}")[:200]
    campaign.created_by = created_by
    now = timezone.now()
    with transaction.atomic():
        campaign.save()
        campaign.contenders.set(contenders)
        rows = [Generation(campaign=campaign, contender=c, prompt=p, enqueued_at=now) for c, p in missing]
        Generation.objects.bulk_create(rows, ignore_conflicts=True)
        Generation.objects.filter(
            contender__in=contenders, prompt__prompt_set=campaign.prompt_set,
            status__in=[WorkStatus.FAILED, WorkStatus.CANCELLED],
        ).exclude(campaign=campaign).update(
            campaign=campaign, status=WorkStatus.PENDING, attempts=0, error="", finished_at=None
        )  # fmt: skip
        ids = list(
            Generation.objects.filter(campaign=campaign, status=WorkStatus.PENDING).values_list(
                "pk", flat=True
            )
        )
        work_enqueue(campaign=campaign, ids=ids)
    if not ids:
        campaign_finish_if_done(campaign_id=campaign.pk)
    return campaign


def generation_run(*, generation_id: int) -> RunResult:
    """Generate one output if still pending in a running campaign; idempotent like `judgment_run`."""
    job = (
        Generation.objects.select_related("campaign", "contender", "prompt").filter(pk=generation_id).first()
    )
    if job is None or job.status != WorkStatus.PENDING or job.campaign.status != Campaign.Status.RUNNING:
        return RunResult("skipped")
    lease, hard = lease_short_seconds(), lease_hard_seconds(settings.JUDGES_GENERATION_TIMEOUT_SECONDS)
    limit = settings.JUDGES_GENERATION_CONCURRENCY
    wait = settings.JUDGES_SLOT_WAIT_SECONDS
    with concurrency_slot(f"gen:{job.contender_id}", limit=limit, hold_s=lease, wait_s=wait) as slot:
        if not slot.acquired:
            return RunResult("busy", retry_in=slot.retry_in)
        token = work_claim(Generation, pk=job.pk, lease_s=lease)
        if token is None:
            return RunResult("skipped")
        with lease_kept(Generation, token=token, slot=slot, hard_s=hard):
            result = _generate_claimed(job, token)
    if result.finished:
        campaign_finish_if_done(campaign_id=job.campaign_id)
    return result


def _generate_claimed(job: Generation, token) -> RunResult:
    ledger = Ledger(campaign_id=job.campaign_id, item_id=job.pk, claim_token=token)
    contender, spend, api_key = job.contender, Spend(ledger=ledger), ""
    try:
        _check_call_time(contender)
        api_key = api_key_resolve(
            env_name=contender.endpoint_api_key_env, owner=f"contender {contender.slug!r}"
        )
        replies = _converse(contender, job.prompt, api_key, spend)
    except TransientProviderError as exc:
        return after_transient(_failure(job, token, spend, api_key), exc)
    except PermanentProviderError as exc:
        return after_permanent(_failure(job, token, spend, api_key), exc)
    # An endpoint may echo the key it got: never stored nor shown.
    first, *later = (redact(reply, api_key) for reply in replies)
    output = _output_store(contender, job.prompt, first, later)
    landed = work_settle(
        Generation, pk=job.pk, token=token, status=WorkStatus.DONE, output=output,
        raw_text="\n\n".join([first, *later]), raw_response=redact_data([r.raw for r in spend.responses], api_key),
        latency_ms=round(spend.latency_s * 1000), error="", error_kind=ErrorKind.NONE, spent=spend.as_spent(),
    )  # fmt: skip
    return RunResult("done" if landed else "skipped")


def _converse(contender: Contender, prompt, api_key: str, spend: Spend) -> list[str]:
    """The endpoint's reply to each user turn, asked turn by turn: every later turn is sent after the
    conversation so far, the model's own earlier replies included (as a person chatting would).

    A failure at any turn fails the whole generation (its retry starts again from the first turn), so a stored
    output always has one reply per turn.
    """
    messages = [{"role": "system", "content": prompt.system_message}] if prompt.system_message else []
    replies: list[str] = []
    for number, turn in enumerate(prompt.user_turns, start=1):
        messages.append({"role": "user", "content": turn})
        response = provider_complete(PROVIDER, _request(contender, list(messages), api_key), spend)
        if not response.text.strip():
            which = f" (turn {number} of {len(prompt.user_turns)})" if prompt.is_multi_turn else ""
            raise PermanentProviderError(
                f"the endpoint of {contender.slug!r} returned an empty answer for prompt "
                f"{prompt.external_id!r}{which}",
                provider=PROVIDER,
            )
        replies.append(response.text)
        messages.append({"role": "assistant", "content": response.text})
    return replies


def _request(contender: Contender, messages: list[dict[str, str]], api_key: str) -> CompletionRequest:
    return CompletionRequest(
        model=contender.endpoint_model,
        messages=messages,
        base_url=contender.endpoint_url,
        api_key=api_key,
        temperature=settings.JUDGES_GENERATION_TEMPERATURE,
        max_tokens=settings.JUDGES_GENERATION_MAX_TOKENS,
        timeout_s=settings.JUDGES_GENERATION_TIMEOUT_SECONDS,
        public_addresses_only=True,
    )


def _output_store(contender: Contender, prompt, text: str, later_replies: list[str]) -> Output:
    try:
        with transaction.atomic():
            output = output_build(contender=contender, prompt=prompt, text=text, later_replies=later_replies)
            output.save()
            return output
    except IntegrityError:  # uploaded meanwhile: outputs are immutable, the uploaded one stays
        return Output.objects.get(contender=contender, prompt=prompt)


def _failure(job: Generation, token, spend: Spend, api_key: str) -> Failure:
    return Failure(
        Generation, job, token, spend, api_key, f"gen:{job.contender_id}", {"contender_id": job.contender_id}
    )


def _check_endpoint(contender: Contender) -> None:
    if not (contender.endpoint_url and contender.endpoint_model):
        raise Invalid(
            f"Contender {contender.slug!r} has no endpoint (URL and model) to generate outputs from.",
            field="contenders",
        )
    try:
        _check_call_time(contender)
        api_key_check(env_name=contender.endpoint_api_key_env, owner=f"Contender {contender.slug!r}")
    except PermanentProviderError as exc:
        raise Invalid(exc.message + ".", field="contenders") from None


def _check_call_time(contender: Contender) -> None:
    """Before a key is read or a byte sent: the URL resolves to a callable address now (DNS may have changed
    since it was saved) and the key name is on today's allow-list (never a name a submitter once typed)."""
    try:
        endpoint_url_check(contender.endpoint_url, field="contenders")
        endpoint_key_name_check(contender.endpoint_api_key_env, field="contenders")
    except DomainError as exc:
        raise PermanentProviderError(
            f"contender {contender.slug!r}: {exc.message.rstrip('.')}", provider=PROVIDER
        ) from None
