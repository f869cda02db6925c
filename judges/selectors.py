"""Reads for the judges' pages, API and CLI."""

from __future__ import annotations

from django.db.models import QuerySet

from arena.errors import NotFound
from judges.models import Campaign, JudgeConfig, Judgment


def campaigns_recent(limit: int = 100) -> QuerySet[Campaign]:
    return Campaign.objects.select_related("prompt_set").prefetch_related("judges__config")[:limit]


def campaign_get_or_404(pk: int) -> Campaign:
    campaign = Campaign.objects.select_related("prompt_set", "baseline").filter(pk=pk).first()
    if campaign is None:
        raise NotFound(f"No campaign #{pk}.")
    return campaign


def judge_configs_all() -> QuerySet[JudgeConfig]:
    return JudgeConfig.objects.select_related("current_version").prefetch_related("dimensions")


def judge_config_get_or_404(slug: str) -> JudgeConfig:
    config = judge_configs_all().filter(slug=slug).first()
    if config is None:
        raise NotFound(f"No judge config {slug!r}.")
    return config


def campaign_summary(campaign: Campaign) -> dict:
    """What every view of a campaign shows besides progress: its setup and its estimate."""
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "kind": campaign.kind,
        "status": campaign.status,
        "plan": campaign.plan,
        "prompt_set": campaign.prompt_set.slug,
        "contenders": list(campaign.contenders.values_list("slug", flat=True)),
        "judges": [f"{v.config.slug} v{v.number}" for v in campaign.judges.select_related("config")],
        "baseline": campaign.baseline.slug if campaign.baseline else None,
        "k": campaign.k,
        "estimate": {
            "calls": campaign.est_calls,
            "reused": campaign.est_reused,
            "already_judged": campaign.already_judged,
            "tokens_in": campaign.est_tokens_in,
            "tokens_out": campaign.est_tokens_out,
            "cost_usd": float(campaign.est_cost),
        },
        "last_error": campaign.last_error,
        "created": campaign.created.isoformat(),
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
    }


def judgments_sample(campaign: Campaign, *, status: str, limit: int = 10) -> QuerySet[Judgment]:
    """A few judgments of one status, for the campaign page (e.g. parse failures with their raw text)."""
    return (
        Judgment.objects.filter(campaign=campaign, status=status)
        .select_related("config_version__config")
        .order_by("-finished_at")[:limit]
    )
