"""Identity leaks: answers that name their own model or vendor, which would unblind a battle at a glance.

Checked whenever an output is stored (uploads, generation, the demo, data migrations); what was found is kept
on `Output.identity_leak`. Battles with such an answer are never served to people (arena.voting.selection)
but stay judgeable, and staff see the flag (admin, contender page).

The patterns are built from ARENA_IDENTITY_LEAK_NAMES (vendors and model families), plus any regular
expressions from ARENA_IDENTITY_LEAK_PATTERNS_FILE, plus, per contender, its own name, slug and organization,
all matched ignoring case (names on word boundaries).
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings

MAX_STORED = 200
_MIN_OWN_NAME = 3  # a two-letter slug or organization ("AI") would match ordinary prose


def _alternatives(names) -> str:
    # Longest first, so "GPT-4o" wins over "GPT" in what is reported.
    unique = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
    return "|".join(re.escape(n) for n in unique)


@lru_cache(maxsize=8)
def _vendor_patterns(names: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    if not names:
        return ()
    who = f"(?:{_alternatives(names)})"
    return tuple(
        re.compile(p, re.IGNORECASE)
        for p in (
            # "As an AI language model developed by OpenAI", "as a large language model trained by Google"
            rf"\bas an? (?:[\w-]+ ){{0,3}}(?:AI|model|assistant|chatbot)\b[^.\n]{{0,40}}?"
            rf"\b(?:developed|trained|created|made|built|designed) by {who}\b",
            # "I am Claude", "I'm ChatGPT", "I am an AI assistant called Gemini", "my name is Llama"
            rf"\b(?:I am|I'm|my name is)(?: an?)?(?:(?: AI| artificial intelligence| large)?(?: language)?"
            rf" (?:model|assistant|chatbot)(?: called| named)?)? {who}\b",
            # "I was trained by Anthropic", "I was created by Meta"
            rf"\bI (?:was|am|have been) (?:developed|trained|created|made|built) by {who}\b",
        )
    )


def _own_pattern(contender) -> re.Pattern | None:
    own = [
        v
        for v in (contender.name, contender.slug, contender.organization)
        if v and len(v.strip()) >= _MIN_OWN_NAME
    ]
    if not own:
        return None
    return re.compile(rf"(?<![\w-])(?:{_alternatives(own)})(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=8)
def _extra_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def identity_leak_find(*, contender, text: str) -> str:
    """The first phrase of `text` that names a model or vendor (at most 200 characters), or "" if none."""
    patterns = [
        *_vendor_patterns(tuple(settings.ARENA_IDENTITY_LEAK_NAMES)),
        *_extra_patterns(tuple(settings.ARENA_IDENTITY_LEAK_PATTERNS)),
        _own_pattern(contender),
    ]
    for pattern in patterns:
        match = pattern.search(text) if pattern else None
        if match:
            return match.group(0)[:MAX_STORED]
    return ""
