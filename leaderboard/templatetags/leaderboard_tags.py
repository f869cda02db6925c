"""Formatting for leaderboard templates: ratings, intervals, percentages, and model answers as safe HTML."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from arena.rendering import render_markdown

register = template.Library()
DASH = "—"


@register.filter
def rating(value: float | None) -> str:
    """A rating to one decimal, as the table, exports and charts round it."""
    return DASH if value is None else f"{value:.1f}"


@register.filter
def interval(row, prefix: str = "") -> str:
    """ "low – high" of a row's 95 % interval (`prefix` "style_" for the style-controlled one)."""
    low, high = getattr(row, f"{prefix}ci_low"), getattr(row, f"{prefix}ci_high")
    return DASH if low is None or high is None else f"{low:.1f} – {high:.1f}"


@register.filter
def percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


@register.filter
def number(value: float | None) -> str:
    """A count that may be a soft-verdict mass: whole numbers without decimals."""
    if value is None:
        return DASH
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


@register.filter
def markdown(text: str) -> SafeString:
    """A model answer or prompt as sanitised HTML (arena.rendering: raw HTML off, allow-listed tags only)."""
    return render_markdown(text)


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key)


@register.filter
def get_figure(figures: dict, name: str) -> dict:
    """A report-card figure `{value, n, low, high}` by name (the judges pages)."""
    return figures.get(name, {})
