"""Markdown style counts of an answer, stored on each output for style-controlled ratings."""

import re

_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def style_counts(text: str) -> dict[str, int]:
    """Characters, headers, list items and bold spans; code blocks are not searched for markup."""
    prose = _FENCE.sub("", text)
    return {
        "n_chars": len(text),
        "n_headers": len(_HEADER.findall(prose)),
        "n_list_items": len(_LIST_ITEM.findall(prose)),
        "n_bold": len(_BOLD.findall(prose)),
    }
