"""Staff pages: judge configs, campaigns (estimate, start, watch, pause/resume/cancel). Logic is in services.

The campaign page and its progress fragment are one view and one template: an htmx request gets only
`campaign_detail.html#progress`, which polls itself while the campaign runs.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from arena.errors import DomainError
from arena.htmx_request import HtmxHttpRequest
from arena.staff import staff_required
from judges import selectors
from judges.forms import CampaignForm, JudgeConfigForm
from judges.models import Campaign, WorkStatus
from judges.services.campaigns import campaign_estimate, campaign_start
from judges.services.configs import judge_config_create, judge_config_update
from judges.services.generation import generation_missing, generation_start
from judges.services.lifecycle import campaign_cancel, campaign_pause, campaign_resume
from judges.services.progress import campaign_progress

DETAIL = "judges/campaign_detail.html"
ACTIONS = {"pause": campaign_pause, "resume": campaign_resume, "cancel": campaign_cancel}


staff_only = staff_required("Judge campaigns are for staff.")


@staff_only
def campaign_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "judges/campaign_list.html", {"campaigns": selectors.campaigns_recent()})


@staff_only
@require_http_methods(["GET", "POST"])
def campaign_new(request: HtmxHttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    estimate = None
    if request.method == "POST" and form.is_valid():
        try:
            if request.POST.get("action") == "start":
                campaign = _start(form, request.user)
                messages.success(request, f"Campaign #{campaign.pk} started.")
                return redirect("judges:campaign-detail", pk=campaign.pk)
            estimate = _estimate(form)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    status = 400 if form.errors else 200
    return render(request, "judges/campaign_form.html", {"form": form, "estimate": estimate}, status=status)


def _estimate(form: CampaignForm) -> dict:
    if form.cleaned_data["kind"] == "generate":
        campaign, contenders, _ = generation_missing(
            contender_slugs=form.spec().contenders, prompt_set_slug=form.spec().prompt_set
        )
        # Staff see where each request goes and which key it carries before anything is sent.
        endpoints = [
            {
                "slug": c.slug,
                "url": c.endpoint_url,
                "model": c.endpoint_model,
                "key_name": c.endpoint_api_key_env,
            }
            for c in contenders
        ]
        return {"calls": campaign.est_calls, "tokens_in": campaign.est_tokens_in,
                "tokens_out": campaign.est_tokens_out, "cost_usd": None, "endpoints": endpoints}  # fmt: skip
    return campaign_estimate(spec=form.spec()).estimate.as_dict()


def _start(form: CampaignForm, user) -> Campaign:
    spec = form.spec()
    if form.cleaned_data["kind"] == "generate":
        return generation_start(
            contender_slugs=spec.contenders, prompt_set_slug=spec.prompt_set, name=spec.name, created_by=user
        )
    return campaign_start(spec=spec, created_by=user)


@staff_only
def campaign_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    campaign = selectors.campaign_get_or_404(pk)
    context = {"campaign": campaign, "progress": campaign_progress(campaign=campaign)}
    if request.htmx:
        return render(request, DETAIL + "#progress", context)
    context["summary"] = selectors.campaign_summary(campaign)
    context["parse_failures"] = selectors.judgments_sample(campaign, status=WorkStatus.PARSE_FAILED)
    return render(request, DETAIL, context)


@staff_only
@require_POST
def campaign_action(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    campaign = selectors.campaign_get_or_404(pk)
    changed = ACTIONS[action](campaign=campaign)
    if not changed:
        messages.info(request, f"Nothing to {action}: the campaign is {campaign.status}.")
    if request.htmx:
        campaign.refresh_from_db()
        return render(
            request,
            DETAIL + "#progress",
            {"campaign": campaign, "progress": campaign_progress(campaign=campaign)},
        )
    return redirect("judges:campaign-detail", pk=campaign.pk)


@staff_only
def config_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "judges/config_list.html", {"configs": selectors.judge_configs_all()})


@staff_only
@require_http_methods(["GET", "POST"])
def config_new(request: HtmxHttpRequest) -> HttpResponse:
    form = JudgeConfigForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            config = judge_config_create(slug=form.cleaned_data["slug"], data=form.to_data())
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Judge config {config.slug} created (version 1).")
            return redirect("judges:config-list")
    return render(request, "judges/config_form.html", {"form": form}, status=400 if form.errors else 200)


@staff_only
@require_http_methods(["GET", "POST"])
def config_edit(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    config = selectors.judge_config_get_or_404(slug)
    initial = JudgeConfigForm.initial_for(config)
    form = JudgeConfigForm(request.POST or None, initial=initial, config=config)
    if request.method == "POST" and form.is_valid():
        before = config.current_version_id
        try:
            version = judge_config_update(config=config, data=form.to_data())
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            note = (
                f"now version {version.number}" if version.pk != before else f"still version {version.number}"
            )
            messages.success(request, f"Judge config {config.slug} saved ({note}).")
            return redirect("judges:config-list")
    context = {"form": form, "config": config, "versions": config.versions.all()}
    return render(request, "judges/config_form.html", context, status=400 if form.errors else 200)
