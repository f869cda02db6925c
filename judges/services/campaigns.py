"""Starting judge campaigns: validate a request, estimate it, then create battles and judgments and queue them.

The page, the API and `manage.py judge` all go through `campaign_estimate` and `campaign_start`, so they
refuse the same bad input with the same messages, and nothing is created unless everything checks out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from arena.errors import Invalid
from arena.models import Contender, PromptSet
from arena.services.battles import battle_get_or_create
from arena.services.prompts import prompt_set_get
from judges.models import Campaign, JudgeConfigVersion, Judgment, WorkStatus
from judges.prompting import validate_template
from judges.providers import get_provider
from judges.services.configs import judge_config_get, judge_config_version_current
from judges.services.enqueue import BATTLE_ORDER, work_enqueue
from judges.services.estimates import Estimate, PlannedJudgment, judgments_estimate, judgments_expand
from judges.services.lifecycle import campaign_finish_if_done
from judges.services.planning import PlannedBattle, battles_plan
from judges.services.secrets import ApiKeyMissingError, api_key_check

PLANS = ("all-pairs", "baseline", "random-k", "adaptive")
# Items that another campaign finished, failed for good or is working on are left alone; failed and
# cancelled ones are taken over (tried again) by the new campaign.
_ADOPTABLE = (WorkStatus.FAILED, WorkStatus.CANCELLED)


@dataclass(frozen=True)
class CampaignSpec:
    """A request for a campaign, as the page, API and CLI give it: slugs, not objects."""

    contenders: list[str]
    prompt_set: str
    judges: list[str] = field(default_factory=list)
    plan: str = "all-pairs"
    baseline: str = ""
    k: int = 1
    seed: int = 0
    name: str = ""


@dataclass
class Prepared:
    spec: CampaignSpec
    prompt_set: PromptSet
    contenders: list[Contender]
    versions: list[JudgeConfigVersion]
    baseline: Contender | None
    battles: list[PlannedBattle]
    judgments: list[PlannedJudgment]
    estimate: Estimate


def campaign_estimate(*, spec: CampaignSpec) -> Prepared:
    """Validate and plan; `.estimate` holds calls, tokens and cost. Writes nothing, except the new version of
    a judge config that changed since its last one (versions are bookkeeping, shared by every campaign)."""
    prompt_set = prompt_set_get(slug=spec.prompt_set)
    contenders = contenders_resolve(spec.contenders, minimum=2)
    baseline = _baseline(spec, contenders)
    versions = _judge_versions(spec.judges, prompt_set)
    if spec.plan not in PLANS:
        raise Invalid(f"Unknown pairing plan {spec.plan!r}; use one of: {', '.join(PLANS)}.", field="plan")
    if spec.k < 1:
        raise Invalid(f"k must be at least 1, got {spec.k}.", field="k")
    battles = battles_plan(
        prompt_set_id=prompt_set.pk,
        contender_ids=[c.pk for c in contenders],
        plan=spec.plan,
        baseline_id=baseline.pk if baseline else None,
        k=spec.k,
        seed=spec.seed,
        dimension=versions[0].dimension_slugs[0],
    )
    if not battles:
        raise Invalid(
            f"The plan {spec.plan!r} gives no battles: the contenders share no answered prompt in "
            f"{prompt_set.slug!r}. Upload or generate their outputs first.",
            field="contenders",
        )
    judgments = judgments_expand(battles, versions)
    estimate = judgments_estimate(judgments)
    return Prepared(spec, prompt_set, contenders, versions, baseline, battles, judgments, estimate)


def campaign_start(*, spec: CampaignSpec, created_by=None, enqueue: bool = True) -> Campaign:
    """Create the campaign, its battles and one pending judgment per battle × judge × order, then queue
    them on commit. All in one transaction: a failure leaves nothing behind. `enqueue=False` is for the
    demo, which runs the same service in-process instead of through a worker."""
    prepared = campaign_estimate(spec=spec)
    with transaction.atomic():
        campaign = _campaign_create(prepared, created_by)
        battle_ids = _battles_create(prepared.battles)
        ids, battles = _judgments_create(campaign, prepared, battle_ids)
        if enqueue:
            work_enqueue(campaign=campaign, ids=ids, battles=battles)
    if not ids:
        campaign_finish_if_done(campaign_id=campaign.pk)
    return campaign


def contenders_resolve(slugs: list[str], *, minimum: int) -> list[Contender]:
    slugs = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    found = {c.slug: c for c in Contender.objects.filter(slug__in=slugs)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise Invalid(f"Unknown contender(s): {', '.join(missing)}.", field="contenders")
    if len(found) < minimum:
        raise Invalid(
            f"A campaign needs at least {minimum} contender(s); got {len(found)} "
            f"({', '.join(slugs) or 'none'}).",
            field="contenders",
        )
    return [found[s] for s in slugs]


def _baseline(spec: CampaignSpec, contenders: list[Contender]) -> Contender | None:
    if spec.plan != "baseline":
        return None
    match = next((c for c in contenders if c.slug == spec.baseline), None)
    if match is None:
        raise Invalid(
            f"The baseline plan needs a baseline among the contenders; got {spec.baseline or 'none'!r}.",
            field="baseline",
        )
    return match


def _judge_versions(slugs: list[str], prompt_set: PromptSet) -> list[JudgeConfigVersion]:
    slugs = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    if not slugs:
        raise Invalid("Choose at least one judge config.", field="judges")
    versions = []
    for slug in slugs:
        config = judge_config_get(slug=slug)
        _check_judge(config, prompt_set)
        versions.append(judge_config_version_current(config=config))
    return versions


def _check_judge(config, prompt_set: PromptSet) -> None:
    problems = validate_template(config.template)
    if problems:
        raise Invalid(
            f"Judge config {config.slug!r} has an invalid template: {'; '.join(problems)}.", field="judges"
        )
    if not config.dimensions.exists():
        raise Invalid(
            f"Judge config {config.slug!r} rates no dimension; choose at least one.", field="judges"
        )
    try:
        api_key_check(
            env_name=config.api_key_env, file_path=config.api_key_file, owner=f"Judge config {config.slug!r}"
        )
    except ApiKeyMissingError as exc:
        raise Invalid(exc.message + ".", field="judges") from None
    if get_provider(config.provider).offline:
        lacking = prompt_set.prompts.filter(reference_answer="").count()
        if lacking:
            raise Invalid(
                f"Judge config {config.slug!r} ({config.provider}) compares answers with reference answers, "
                f"but {lacking} prompt(s) of {prompt_set.slug!r} have none; use an LLM judge for this set.",
                field="judges",
            )


def _campaign_create(prepared: Prepared, created_by) -> Campaign:
    spec, estimate = prepared.spec, prepared.estimate
    name = spec.name.strip() or (
        f"{prepared.prompt_set.slug}: {len(prepared.contenders)} contenders, {spec.plan}, "
        f"{', '.join(v.config.slug for v in prepared.versions)}"
    )
    campaign = Campaign.objects.create(
        kind=Campaign.Kind.JUDGE, name=name[:200], prompt_set=prepared.prompt_set, plan=spec.plan,
        baseline=prepared.baseline, k=spec.k, seed=spec.seed, created_by=created_by,
        est_calls=estimate.calls, est_reused=estimate.reused, est_tokens_in=estimate.tokens_in,
        est_tokens_out=estimate.tokens_out, est_cost=estimate.cost, already_judged=estimate.already_judged,
    )  # fmt: skip
    campaign.contenders.set(prepared.contenders)
    campaign.judges.set(prepared.versions)
    return campaign


def _battles_create(planned: list[PlannedBattle]) -> list[int]:
    ids = []
    for item in planned:
        if item.battle_id is None:
            battle, _ = battle_get_or_create(output_a=item.output_a, output_b=item.output_b)
            ids.append(battle.pk)
        else:
            ids.append(item.battle_id)
    return ids


def _judgments_create(
    campaign: Campaign, prepared: Prepared, battle_ids: list[int]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Insert the judgments this campaign needs; existing ones are kept (unique per battle × version ×
    order), failed or cancelled ones taken over. Returns the ids of this campaign's pending judgments, and
    each one's battle and judge version."""
    now = timezone.now()
    rows = [
        Judgment(
            campaign=campaign,
            battle_id=battle_ids[item.battle_index],
            config_version=item.version,
            order=item.order,
            content_key=item.content_key,
            enqueued_at=now,
        )  # fmt: skip
        for item in prepared.judgments
    ]
    Judgment.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    mine = Judgment.objects.filter(battle_id__in=set(battle_ids), config_version__in=prepared.versions)
    mine.filter(status__in=_ADOPTABLE).exclude(campaign=campaign).update(
        campaign=campaign, status=WorkStatus.PENDING, attempts=0, error="", error_kind="",
        finished_at=None, enqueued_at=now,
    )  # fmt: skip
    # Battle by battle, both orders side by side, as the batches want them (`enqueue`).
    pending = Judgment.objects.filter(campaign=campaign, status=WorkStatus.PENDING).order_by(*BATTLE_ORDER)
    found = list(pending.values_list("pk", "battle_id", "config_version_id"))
    return [pk for pk, _, _ in found], [(battle, version) for _, battle, version in found]
