"""README is a map: every docs page is on it, and every relative link in README and docs/ leads somewhere real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(
        r"```.*?```", "", page.read_text(), flags=re.DOTALL
    )  # "# comment" lines in code are no headings
    return {_anchor(title) for title in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    unlinked = [page.name for page in PAGES if f"(docs/{page.name}" not in readme]
    assert PAGES and unlinked == [], (
        f"docs pages README does not link (add them to its map or its More list): {unlinked}"
    )


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda page: page.name)
def test_relative_links_lead_to_a_file_and_heading_that_exist(page: Path):
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
        elif anchor and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)} has broken links: {broken}"
