"""A template's output without the template engine on each request: rendered once per *shape* with placeholder
values, split at the placeholders, then joined with each request's values written as the template writes them.

Used for the vote's reveal (`lean_vote.RevealFragments`) and the served battle (`battle_fragment`). A shape is
whatever changes the markup itself rather than a value in it (the caller decides); the first fill of each
shape is compared with the template's own render, and a shape the placeholders cannot reproduce (a filter
applied to a value, say) is rendered in full every time instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings
from django.template import Context
from django.template.base import render_value_in_context
from django.urls import get_script_prefix, get_urlconf
from django.utils.html import escape
from django.utils.safestring import SafeData, SafeString

# How a variable is written into the page: as the template does it (localised, escaped unless safe).
_AS_TEMPLATE = Context(autoescape=True)


def written(value: Any) -> str:
    """`value` as the template writes a variable (`render_value_in_context`: localised, then escaped unless
    safe), with its two common cases spelled out: `localize` looks up three locale formats for every number
    even when, with USE_THOUSAND_SEPARATOR off, an int is written as `str` writes it."""
    if isinstance(value, SafeData):
        return value  # type: ignore[return-value]  # SafeString (a str), as the answers' HTML is
    if isinstance(value, str):
        return escape(value)
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return render_value_in_context(value, _AS_TEMPLATE)


def url_scope() -> tuple[Any, str]:
    """What the URLs written into pieces depend on: the URLconf and the script prefix. Outside a request
    `get_urlconf()` is None whatever ROOT_URLCONF says (an override in a test, say), so the setting stands in."""
    return get_urlconf() or settings.ROOT_URLCONF, get_script_prefix()


def _filled(parts: list[str | int], values: list[Any]) -> str:
    return SafeString("".join(part if isinstance(part, str) else written(values[part]) for part in parts))


class PiecesByShape:
    """A template's pieces by shape, per process (this module's docstring)."""

    def __init__(self) -> None:
        self._parts: dict[Hashable, list[str | int] | None] = {}

    def html(
        self,
        shape: Hashable,
        values: list[Any],
        marked: Callable[[], tuple[str, list[str]]],
        full: Callable[[], str],
    ) -> str:
        """The output for `values`. `marked()` renders the template with a placeholder for each value, in
        `values`' order, and returns that render with its placeholders; `full()` renders it for real."""
        if shape not in self._parts:
            rendered, marks = marked()
            pieces = re.split("(" + "|".join(map(re.escape, marks)) + ")", rendered)
            index = {mark: i for i, mark in enumerate(marks)}
            parts = [index.get(piece, piece) for piece in pieces]
            # The first fill of each shape proves the pieces reproduce the template's own output.
            self._parts[shape] = parts if _filled(parts, values) == full() else None
        kept = self._parts[shape]
        return full() if kept is None else _filled(kept, values)
