"""Judges' report cards, read API under /api/judge-reports/ (public, like the leaderboard API).

Same cards as the pages and `judge_report --json`. Bad parameters answer 400 with `{"error", "field"}`
(unknown source, dimension or version), through arena.api.errors.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import create_model

from judges.report.card import FIGURES
from judges.report.services import (
    report_card_for_source,
    report_dimension_get,
    report_overview,
    report_source_get,
    version_get,
)

router = Router(tags=["judge reports"])


class ErrorOut(Schema):
    error: str
    field: str | None = None


ERRORS = {400: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class FigureOut(Schema):
    value: float | None
    n: int
    low: float | None
    high: float | None


class CountsOut(Schema):
    judgments: int
    units_both_orders: int
    verdicts: int
    votes: int
    battles_compared_with_people: int


# Every figure as a plain number (None without data) plus `figures` with n and the 95 % interval.
CardOut = create_model(
    "CardOut",
    __base__=Schema,
    source=(str, ...),
    source_name=(str, ...),
    source_kind=(str, ...),
    version=(int | None, None),
    judge_model=(str | None, None),
    dimension=(str, ...),
    bootstrap_rounds=(int, ...),
    counts=(CountsOut, ...),
    figures=(dict[str, FigureOut], ...),
    **{name: (float | None, None) for name in FIGURES},
)


@router.get("/", response={200: list[CardOut], **ERRORS}, summary="Every judge's report card on a dimension")
def cards(request: HttpRequest, dimension: str = ""):
    """One card per judge config version with judgments (and per jury), on `dimension` (default overall)."""
    found = report_dimension_get(dimension or None)
    return [
        report_card_for_source(line.source, found, version=line.version) for line in report_overview(found)
    ]


@router.get("/{key}", response={200: CardOut, **ERRORS}, summary="One judge's report card")
def card(request: HttpRequest, key: str, dimension: str = "", version: int | None = None):
    """The card of judge source `key` on `dimension` (default overall), for config `version` (default current)."""
    source = report_source_get(key)
    found = report_dimension_get(dimension or None)
    return report_card_for_source(source, found, version=version_get(source, version))
