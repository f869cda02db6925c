"""Untrusted Markdown renders as useful, inert HTML: nothing from the text can run or load in the page."""

import re

import pytest

from arena.rendering import LINK_REL, render_markdown


def test_it_renders_lists_tables_emphasis_and_highlighted_code():
    html = render_markdown(
        "## Steps\n\n1. **one**\n2. *two*\n\n| x | y |\n|---|--:|\n| 1 | 2 |\n\n```python\ndef f():\n    return 1\n```\n"
    )
    assert "<h2>Steps</h2>" in html
    assert "<ol>" in html and "<strong>one</strong>" in html and "<em>two</em>" in html
    assert "<table>" in html and '<td style="text-align:right">2</td>' in html
    assert '<pre class="highlight"><code><span class="k">def</span>' in html


@pytest.mark.parametrize(
    "attack",
    [
        "<script>window.pwned = 1</script>",
        '<img src=x onerror="window.pwned = 1">',
        '<a href="javascript:window.pwned=1">click</a>',
        "<svg onload=alert(1)></svg>",
        '<iframe src="https://example.org"></iframe>',
        "<style>body{display:none}</style>",
        '<div onclick="alert(1)">hi</div>',
    ],
)
def test_every_html_tag_from_the_text_is_escaped(attack):
    html = render_markdown(f"Before {attack} after")
    assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<svg" not in html
    assert "<style" not in html and "<div" not in html
    assert not re.search(r"<[^>]+\son\w+=", html), html
    assert "&lt;" in html  # shown as text, not dropped silently


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:x",
        "file:///etc/passwd",
    ],
)
def test_dangerous_link_schemes_never_become_links(url):
    html = render_markdown(f"[click]({url}) and <{url}>")
    assert "href" not in html


def test_safe_links_get_rel_nofollow_noopener_noreferrer():
    html = render_markdown("[docs](https://example.org/x) <https://example.org/y>")
    assert html.count(f'rel="{LINK_REL}"') == 2
    assert 'href="https://example.org/x"' in html


def test_images_are_not_loaded():
    html = render_markdown("![pixel](https://tracker.example/p.png)")
    assert "<img" not in html


def test_code_blocks_escape_their_content_and_unknown_languages_are_plain():
    html = render_markdown("```nosuchlang\n<script>alert(1)</script>\n```\n\n`<b>inline</b>`")
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<code>&lt;b&gt;inline&lt;/b&gt;</code>" in html


def test_empty_text_renders_nothing():
    assert render_markdown("") == ""
