"""Judge campaign API, under /api/judges/ (token auth, staff only). Same services as the pages and the CLI.

Errors are `{"error": ..., "field": ...}` with a 4xx status (see arena.api.errors).
"""

from __future__ import annotations

from ninja import Router, Schema, Status

from arena.api.auth import token_auth
from arena.api.errors import ErrorOut
from arena.errors import Invalid
from arena.staff import staff_check
from judges import selectors
from judges.models import Campaign
from judges.services.campaigns import CampaignSpec, campaign_estimate, campaign_start
from judges.services.generation import generation_missing, generation_start
from judges.services.lifecycle import campaign_cancel, campaign_pause, campaign_resume
from judges.services.progress import campaign_progress

router = Router(tags=["judges"], auth=token_auth)


class CampaignIn(Schema):
    kind: str = "judge"
    contenders: list[str]
    prompt_set: str
    judges: list[str] = []
    plan: str = "all-pairs"
    baseline: str = ""
    k: int = 1
    seed: int = 0
    name: str = ""


class ConfigOut(Schema):
    slug: str
    name: str
    provider: str
    model: str
    base_url: str
    api_key_reference: str
    version: int | None
    template_version: str | None
    dimensions: list[str]
    sees_reference: bool
    judge_turns: str
    price_input_per_mtok: float
    price_output_per_mtok: float
    concurrency_limit: int
    timeout_seconds: float
    is_active: bool


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _staff(request) -> None:
    staff_check(request.auth, refusal="Judge campaigns are for staff; this token's user is not staff.")


def _campaign_out(campaign: Campaign) -> dict:
    return {
        **selectors.campaign_summary(campaign),
        "progress": campaign_progress(campaign=campaign).as_dict(),
    }


def _spec(payload: CampaignIn) -> CampaignSpec:
    data = payload.dict()
    data.pop("kind")
    return CampaignSpec(**data)


def _check_kind(kind: str) -> None:
    if kind not in Campaign.Kind.values:
        raise Invalid(f"Unknown campaign kind {kind!r}; use judge or generate.", field="kind")


@router.get("/configs", response={200: list[ConfigOut], **ERRORS}, summary="Judge configs")
def list_configs(request):
    _staff(request)
    return [
        {
            **{
                f: getattr(c, f)
                for f in (
                    "slug",
                    "name",
                    "provider",
                    "model",
                    "base_url",
                    "api_key_reference",
                    "sees_reference",
                    "judge_turns",
                    "concurrency_limit",
                    "timeout_seconds",
                    "is_active",
                )
            },
            "version": c.current_version.number if c.current_version else None,
            "template_version": c.current_version.template_label if c.current_version else None,
            "dimensions": [d.slug for d in c.dimensions.all()],
            "price_input_per_mtok": float(c.price_input_per_mtok),
            "price_output_per_mtok": float(c.price_output_per_mtok),
        }  # fmt: skip
        for c in selectors.judge_configs_all()
    ]


@router.post(
    "/campaigns/estimate", response={200: dict, **ERRORS}, summary="Calls, tokens and cost, without starting"
)
def estimate_campaign(request, payload: CampaignIn):
    _staff(request)
    _check_kind(payload.kind)
    if payload.kind == Campaign.Kind.GENERATE:
        campaign, _, _ = generation_missing(
            contender_slugs=payload.contenders, prompt_set_slug=payload.prompt_set
        )
        return {
            "calls": campaign.est_calls,
            "tokens_in": campaign.est_tokens_in,
            "tokens_out": campaign.est_tokens_out,
        }
    return campaign_estimate(spec=_spec(payload)).estimate.as_dict()


@router.post("/campaigns", response={201: dict, **ERRORS}, summary="Start a campaign")
def create_campaign(request, payload: CampaignIn):
    _staff(request)
    _check_kind(payload.kind)
    if payload.kind == Campaign.Kind.GENERATE:
        campaign = generation_start(
            contender_slugs=payload.contenders, prompt_set_slug=payload.prompt_set, name=payload.name,
            created_by=request.auth,
        )  # fmt: skip
    else:
        campaign = campaign_start(spec=_spec(payload), created_by=request.auth)
    return Status(201, _campaign_out(selectors.campaign_get_or_404(campaign.pk)))


@router.get("/campaigns", response={200: list[dict], **ERRORS}, summary="Recent campaigns")
def list_campaigns(request, limit: int = 50):
    _staff(request)
    return [selectors.campaign_summary(c) for c in selectors.campaigns_recent(min(max(limit, 1), 500))]


@router.get(
    "/campaigns/{campaign_id}", response={200: dict, **ERRORS}, summary="A campaign with live progress"
)
def get_campaign(request, campaign_id: int):
    _staff(request)
    return _campaign_out(selectors.campaign_get_or_404(campaign_id))


def _act(request, campaign_id: int, action) -> dict:
    _staff(request)
    campaign = selectors.campaign_get_or_404(campaign_id)
    changed = action(campaign=campaign)
    return {"changed": changed, **_campaign_out(selectors.campaign_get_or_404(campaign_id))}


@router.post("/campaigns/{campaign_id}/pause", response={200: dict, **ERRORS}, summary="Pause")
def pause_campaign(request, campaign_id: int):
    return _act(request, campaign_id, campaign_pause)


@router.post(
    "/campaigns/{campaign_id}/resume", response={200: dict, **ERRORS}, summary="Resume; retry failures"
)
def resume_campaign(request, campaign_id: int):
    return _act(request, campaign_id, campaign_resume)


@router.post("/campaigns/{campaign_id}/cancel", response={200: dict, **ERRORS}, summary="Cancel")
def cancel_campaign(request, campaign_id: int):
    return _act(request, campaign_id, campaign_cancel)
