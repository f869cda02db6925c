"""The docs' figures and examples are the demo's: its counts, its example upload, its list of sort keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

from arena.demo.content import CONTENDERS, PROMPTS
from arena.models import Dimension, Output, Prompt
from arena.services.outputs import outputs_import
from leaderboard.board_query import SORT_KEYS
from tests.support import factories

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text()


def _json_blocks(text: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", text, re.DOTALL)


def test_the_demo_paragraph_counts_what_the_demo_loads():
    found = re.search(
        r"(\d+)\s+questions in (\d+) categories — ([a-z, ]+) —.*?(\d+) contenders,\s+(\d+) approved and (\d+) pending",
        _page("development.md"),
        re.DOTALL,
    )
    assert found, "docs/development.md no longer states the demo's counts"
    prompts, categories, names, contenders, approved, pending = found.groups()
    demo_categories = {p.category for p in PROMPTS}
    assert int(prompts) == len(PROMPTS) and int(categories) == len(demo_categories)
    assert {name.strip() for name in names.split(",")} == demo_categories
    n_pending = sum(bool(c.get("pending")) for c in CONTENDERS)
    assert (int(contenders), int(approved), int(pending)) == (
        len(CONTENDERS),
        len(CONTENDERS) - n_pending,
        n_pending,
    )


def test_the_example_prompt_is_the_demo_prompt_it_names(demo_arena):
    prompts_block = _json_blocks(_page("formats.md"))[0]
    example = json.loads(prompts_block)
    stored = Prompt.objects.get(prompt_set=demo_arena, external_id=example["id"])
    assert (stored.text, stored.category, stored.reference_answer) == (
        example["text"],
        example["category"],
        example["reference"],
    )


def test_every_example_upload_is_accepted_by_the_demo_set(demo_arena):
    contender = factories.make_contender("my-model")
    _prompts, jsonl, alpaca = _json_blocks(_page("formats.md"))
    uploads = [(line, "outputs.jsonl") for line in jsonl.strip().splitlines()] + [(alpaca, "outputs.json")]
    assert len(uploads) == 3
    for data, filename in uploads:
        result = outputs_import(
            contender=contender, prompt_set=demo_arena, data=data.encode(), filename=filename
        )
        assert result.created == 1, f"docs/formats.md example {data!r} imported {result.created} outputs"
        Output.objects.filter(contender=contender).delete()  # each line answers the same prompt


def test_the_sort_keys_the_docs_list_are_the_leaderboards():
    listed = re.search(r"`sort` \(([^)]*)\)", _page("ratings.md"))
    assert listed, "docs/ratings.md no longer lists the sort keys"
    keys = re.findall(r"`([a-z_]+)`", listed.group(1))
    assert keys == list(SORT_KEYS)


def test_the_demo_offers_people_every_dimension(demo_arena):
    offered = set(demo_arena.vote_dimensions.values_list("slug", flat=True))
    assert offered == set(
        Dimension.objects.filter(is_active=True).exclude(slug="overall").values_list("slug", flat=True)
    )
    assert {"helpfulness", "harmlessness"} <= offered
