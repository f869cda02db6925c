"""Untrusted Markdown (model answers, prompts, guidelines) to HTML that cannot run anything in the page.

Two layers, so that a bug in one is caught by the other:
1. markdown-it renders CommonMark + tables + strikethrough with raw HTML *off*: every tag written in the text
   comes out escaped, as visible text. Fenced code is highlighted by Pygments (escaped spans only).
2. nh3 (ammonia) then keeps only an allow-list of tags, attributes, classes and URL schemes, and sets
   `rel` on links. Images are not rendered at all: an answer must not make annotators' browsers fetch
   third-party URLs (tracking pixels, or content that hints at which model wrote it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version
from typing import Any, Protocol

import nh3
from django.core.cache import caches
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

LINK_REL = "nofollow noopener noreferrer"
HIGHLIGHT_CLASS = "highlight"

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
# Table cell alignment is the only inline style markdown-it emits; everything else in `style` is dropped.
_STYLE_TAGS = {"th", "td"}
_URL_SCHEMES = {"http", "https", "mailto"}
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """Highlight a fenced block; an unknown or missing language is shown as escaped plain text."""
    try:
        lexer = get_lexer_by_name(lang.strip()) if lang.strip() else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return f'<pre class="{HIGHLIGHT_CLASS}"><code>{highlight(code, lexer, _FORMATTER)}</code></pre>\n'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight}
    )
    md.enable(["table", "strikethrough"])
    md.disable("image")
    return md


def _clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes={**_ATTRIBUTES, **{tag: {"style"} for tag in _STYLE_TAGS}},
        filter_style_properties={"text-align"},
        url_schemes=_URL_SCHEMES,
        link_rel=LINK_REL,
        allowed_classes={"pre": {HIGHLIGHT_CLASS}, "span": {c for c in STANDARD_TYPES.values() if c}},
        clean_content_tags={"script", "style"},
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    """Sanitised HTML for untrusted Markdown `text`; safe to insert into any page as is."""
    return mark_safe(_rendered(text)) if text else mark_safe("")  # nh3 has sanitised it


class _RecentlyRendered:
    """This process's rendered texts, least recently used dropped first (gthread workers share it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> str | None:
        with self._lock:
            html = self._entries.get(text)
            if html is not None:
                self._entries.move_to_end(text)
            return html

    def put(self, text: str, html: str) -> None:
        with self._lock:
            self._entries[text] = html
            self._entries.move_to_end(text)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# The same answers are shown to many annotators; rendering (highlighting above all) is the costly part of
# serving a battle. Keyed by the text itself, so an edited answer is simply a new entry.
RECENTLY_RENDERED = _RecentlyRendered(2048)


def _rendered(text: str) -> str:
    html = RECENTLY_RENDERED.get(text)
    if html is None:
        html = _clean(_parser().render(text))
        RECENTLY_RENDERED.put(text, html)
    return html


# What decides the HTML a text renders to: the libraries' versions and the allow-lists above, plus a number to
# bump when the rendering changes in a way these do not show (a new option of the parser, say). HTML rendered
# under another fingerprint is never shown: the shared cache keys and the stored HTML's stamps carry it.
RENDERER_VERSION = 2


def _renderer_fingerprint() -> str:
    parts = [
        RENDERER_VERSION,
        {name: version(name) for name in ("markdown-it-py", "pygments", "nh3")},
        sorted(_TAGS), {tag: sorted(names) for tag, names in _ATTRIBUTES.items()}, sorted(_STYLE_TAGS),
        sorted(_URL_SCHEMES), LINK_REL, HIGHLIGHT_CLASS, sorted(c for c in STANDARD_TYPES.values() if c),
    ]  # fmt: skip
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=6).hexdigest()


RENDERER = _renderer_fingerprint()

# Rendered answers shared by every web process through the cache (Redis in production): a process's own
# LRU above covers only what it has rendered itself, so without this each process renders each answer once
# more, and an arena with more answers than the LRU holds renders on most serves.
RENDERED_CACHE_SECONDS = 7 * 24 * 3600


def _shared_key(text: str) -> str:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"md:{RENDERER}:{digest}"


def render_markdown_many(texts: Sequence[str]) -> list[SafeString]:
    """`render_markdown` of each text, taking what this process has not rendered from the shared cache (one
    call) and storing there what nobody had (one call); `render_markdown` then finds all of them here."""
    keys = {text: _shared_key(text) for text in texts if text and RECENTLY_RENDERED.get(text) is None}
    cache = caches["default"]
    stored = cache.get_many(list(keys.values())) if keys else {}
    for text, key in keys.items():
        if key in stored:
            RECENTLY_RENDERED.put(text, stored[key])
    fresh = {keys[text]: _rendered(text) for text in keys if keys[text] not in stored}
    if fresh:
        cache.set_many(fresh, timeout=RENDERED_CACHE_SECONDS)
    # nh3 sanitised every entry, in this process or another one running this code (same cache version)
    return [render_markdown(text) for text in texts]


# --- HTML stored with the texts (answers and prompts) ------------------------------------------------------
# Answers are written once (an import) and shown many times: their HTML is rendered when they are stored and
# kept beside them (`html`, one entry per text, and `html_stamp`; a web upload's by a task just after it,
# arena.services.stored_html), so serving a battle renders nothing. The
# stamp is the renderer's fingerprint and a digest of the texts: HTML from another renderer, or of texts
# changed by a path that skipped the model (`QuerySet.update`, raw SQL), does not match, is not shown, and
# is rendered again (arena.voting re-stores it when it serves such a row).


class StoresHtml(Protocol):
    html: Any
    html_stamp: str

    def rendered_texts(self) -> list[str]: ...


def html_stamp(texts: Sequence[str]) -> str:
    digest = hashlib.blake2b(
        json.dumps(list(texts)).encode("utf-8", "surrogatepass"), digest_size=12
    ).hexdigest()
    return f"{RENDERER}:{digest}"


def html_fill(row: StoresHtml) -> bool:
    """Render the row's texts into its `html` unless its stamp says they are current; True when it changed
    (the caller saves the two fields)."""
    texts = row.rendered_texts()
    stamp = html_stamp(texts)
    if row.html_stamp == stamp:
        return False
    row.html, row.html_stamp = [_rendered(text) if text else "" for text in texts], stamp
    return True


def html_prime(row: StoresHtml) -> bool:
    """Hand the row's stored HTML to `render_markdown` (this process's copy), when it is current; False when it
    is not (missing, another renderer's, or of other texts): the texts must then be rendered."""
    texts = row.rendered_texts()
    html = row.html
    if row.html_stamp != html_stamp(texts) or not isinstance(html, list) or len(html) != len(texts):
        return False
    for text, fragment in zip(texts, html, strict=True):
        if text:
            RECENTLY_RENDERED.put(text, fragment)
    return True


def highlight_css() -> str:
    """The Pygments rules for highlighted code blocks (copied into static/css/vote.css)."""
    return _FORMATTER.get_style_defs(f".{HIGHLIGHT_CLASS}")
