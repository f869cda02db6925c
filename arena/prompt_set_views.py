"""Public prompt-set pages and downloads: what submitters must answer, without reading the database."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from arena.models import PromptSet
from arena.services.prompt_sets import (
    outputs_template_jsonl,
    prompt_set_summary,
    prompt_sets_listed,
    prompts_jsonl,
    prompts_ordered,
)


def _prompt_set_or_404(slug: str) -> PromptSet:
    prompt_set = PromptSet.objects.filter(slug=slug).first()
    if prompt_set is None:
        raise Http404(f"No prompt set {slug!r}; the list of prompt sets is at /prompt-sets/.")
    return prompt_set


@require_GET
def prompt_set_list(request: HttpRequest) -> HttpResponse:
    return render(request, "arena/prompt_set_list.html", {"prompt_sets": prompt_sets_listed()})


@require_GET
def prompt_set_detail(request: HttpRequest, slug: str) -> HttpResponse:
    prompt_set = _prompt_set_or_404(slug)
    context = {
        "summary": prompt_set_summary(prompt_set),
        "prompts": prompts_ordered(prompt_set),
        "show_references": prompt_set.show_references,
    }
    return render(request, "arena/prompt_set_detail.html", context)


def _jsonl_download(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def prompt_set_prompts(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    prompt_set = _prompt_set_or_404(slug)
    return _jsonl_download(prompts_jsonl(prompt_set), f"{prompt_set.slug}-prompts.jsonl")


@require_GET
def prompt_set_outputs_template(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    prompt_set = _prompt_set_or_404(slug)
    return _jsonl_download(outputs_template_jsonl(prompt_set), f"{prompt_set.slug}-outputs-template.jsonl")
