"""Public judges pages: the overview of every judge's report card, one judge's card with its disagreements
with people, a battle behind a disagreement, and CSV/JSON exports. Thin: the cards come from services.

Answers are shown with their contenders' names only when `arena.blindness` allows it (never while an open
annotation task may serve them, except to staff) and only for approved contenders; otherwise as "A"/"B".
Bad parameters render a page saying what was wrong (400/404), never a 500.
"""

from __future__ import annotations

import csv
import io

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from arena.blindness import battles_blind_q, may_see_blind
from arena.errors import Invalid, NotFound
from arena.models import Battle, Contender, Dimension, Verdict
from judges.models import Judgment
from judges.report import charts
from judges.report.card import FIGURES
from judges.report.services import (
    report_card_for_source,
    report_dimension_get,
    report_disagreements,
    report_overview,
    report_source_get,
    version_get,
)

COLUMNS = (
    ("consistent", "Consistent"), ("biased_first", "Biased first"), ("biased_second", "Biased second"),
    ("other", "Other"), ("error", "Error"), ("prefer_first", "Prefers first"),
    ("prefer_longer", "Prefers longer"), ("people_prefer_longer", "People prefer longer"),
    ("self_preference", "Own family win rate"), ("people_self_preference", "People, same battles"),
    ("agreement", "Agrees with people"), ("agreement_no_ties", "… without ties"), ("kappa", "Cohen's κ"),
    ("people_agreement", "People agree"), ("people_alpha", "Krippendorff's α"),
    ("kendall_tau_b", "Kendall τ-b"), ("spearman_rho", "Spearman ρ"), ("confident_same", "Pairs confidently same"),
    ("parse_failures_per_1000", "Parse failures /1k"), ("cost_per_1000", "Cost /1k ($)"),
    ("latency_s_per_1000", "Latency /1k (s)"),
)  # fmt: skip
SORTABLE = {"name", *(key for key, _ in COLUMNS)}
DISAGREEMENTS_SHOWN = 200


def _sort(lines, sort: str):
    key = sort.lstrip("-")
    if key not in SORTABLE:
        raise Invalid(
            f"Unknown sort {sort!r}: use name or one of {', '.join(k for k, _ in COLUMNS)}.", field="sort"
        )
    if key == "name":
        return sorted(lines, key=lambda line: line.label.lower(), reverse=sort.startswith("-"))
    present = [line for line in lines if line.card[key] is not None]
    missing = [line for line in lines if line.card[key] is None]
    return sorted(present, key=lambda line: line.card[key], reverse=sort.startswith("-")) + missing


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    dimension = report_dimension_get(request.GET.get("dimension"))
    sort = request.GET.get("sort", "name")
    lines = _sort(report_overview(dimension), sort)
    base = reverse("judges:report")
    columns = [
        {"key": key, "label": label, "url": f"{base}?dimension={dimension.slug}&sort={'-' if sort == key else ''}{key}",
         "current": sort.lstrip("-") == key}
        for key, label in COLUMNS
    ]  # fmt: skip
    context = {
        "dimension": dimension,
        "dimensions": Dimension.objects.filter(is_active=True),
        "lines": lines,
        "columns": columns,
        "sort": sort,
        "name_url": f"{base}?dimension={dimension.slug}&sort={'-' if sort == 'name' else ''}name",
        "charts": [
            {"name": "position", "element_id": "figure-position", "figure": charts.position_chart(lines)},
            {"name": "bias", "element_id": "figure-bias", "figure": charts.bias_chart(lines)},
            {"name": "agreement", "element_id": "figure-agreement", "figure": charts.agreement_chart(lines)},
        ]
        if lines
        else [],
    }
    return render(request, "judges/report_overview.html", context)


def _version_param(request: HttpRequest) -> int | None:
    raw = request.GET.get("version", "")
    if raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²" is a digit to isdigit, not to int
        raise Invalid(f"version must be a whole number, got {raw!r}.", field="version")
    return int(raw)


@require_GET
def detail(request: HttpRequest, key: str) -> HttpResponse:
    source = report_source_get(key)
    dimension = report_dimension_get(request.GET.get("dimension"))
    version = version_get(source, _version_param(request))
    card = report_card_for_source(source, dimension, version=version)
    found = report_disagreements(source, dimension, version=version)
    shown = found[:DISAGREEMENTS_SHOWN]
    battles = Battle.objects.select_related("prompt", "contender_a", "contender_b").in_bulk(
        [d.battle for d in shown]
    )
    blind = set(
        Battle.objects.filter(battles_blind_q(), pk__in=[d.battle for d in shown]).values_list(
            "pk", flat=True
        )
    )
    staff = may_see_blind(request.user)
    items = []
    for d in shown:
        battle = battles[d.battle]
        named = staff or (d.battle not in blind and _both_public(battle))
        items.append({"d": d, "battle": battle, "named": named})
    context = {
        "card": card,
        "source": source,
        "version": version,
        "versions": list(source.judge_config.versions.all()) if hasattr(source, "judge_config") else [],
        "dimension": dimension,
        "dimensions": Dimension.objects.filter(is_active=True),
        "figures": [(name, card["figures"][name]) for name in FIGURES],
        "items": items,
        "n_disagreements": len(found),
    }
    return render(request, "judges/report_detail.html", context)


def _both_public(battle: Battle) -> bool:
    """Both contenders are approved (pending or withdrawn ones are never named on public pages)."""
    approved = Contender.Status.APPROVED
    return battle.contender_a.status == approved and battle.contender_b.status == approved


@require_GET
def battle(request: HttpRequest, pk: int) -> HttpResponse:
    """A battle behind a disagreement: prompt, both answers, every judge's orders and the people's votes."""
    found = (
        Battle.objects.select_related("prompt", "output_a", "output_b", "contender_a", "contender_b")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise NotFound(f"No battle #{pk}.")
    blind = Battle.objects.filter(battles_blind_q(), pk=pk).exists()
    named = may_see_blind(request.user) or (not blind and _both_public(found))
    judgments = (
        Judgment.objects.filter(battle=found)
        .select_related("config_version__config")
        .order_by("config_version", "order")
    )
    votes = Verdict.objects.filter(battle=found, source__kind="human", excluded=False).select_related(
        "dimension"
    )
    tallies: dict[str, dict[str, int]] = {}
    for v in votes:
        if v.outcome:
            tallies.setdefault(v.dimension.name, {}).setdefault(v.outcome, 0)
            tallies[v.dimension.name][v.outcome] += 1
    # Blind answers are not shown to non-staff even unnamed: the battle's id (here and in other public lists)
    # would pair them with their contenders.
    answers_shown = may_see_blind(request.user) or not blind
    context = {"battle": found, "named": named, "blind": blind, "judgments": judgments, "tallies": tallies,
               "answers_shown": answers_shown}  # fmt: skip
    return render(request, "judges/report_battle.html", context)


def _export_rows(request: HttpRequest):
    dimension = report_dimension_get(request.GET.get("dimension"))
    return dimension, [
        {"source": line.source.key, "name": line.label, "version": line.version.number if line.version else None,
         "judge_model": line.version.model if line.version else None, "dimension": dimension.slug,
         **{name: line.card[name] for name in FIGURES},
         **{f"{name}_n": line.card["figures"][name]["n"] for name in FIGURES},
         **{f"{name}_low": line.card["figures"][name]["low"] for name in FIGURES},
         **{f"{name}_high": line.card["figures"][name]["high"] for name in FIGURES}}
        for line in report_overview(dimension)
    ]  # fmt: skip


@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    dimension, rows = _export_rows(request)
    out = io.StringIO()
    fields = ["source", "name", "version", "judge_model", "dimension"]
    fields += [f"{n}{s}" for n in FIGURES for s in ("", "_n", "_low", "_high")]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="judges-{dimension.slug}.csv"'
    return response


@require_GET
def export_json(request: HttpRequest) -> HttpResponse:
    dimension, rows = _export_rows(request)
    response = JsonResponse({"dimension": dimension.slug, "judges": rows}, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="judges-{dimension.slug}.json"'
    return response
