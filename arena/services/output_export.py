"""A contender's outputs out, so they can be run through other evaluators: AlpacaEval JSON or JSON lines.

`alpaca_eval` is one JSON list of ``{"instruction", "output", "generator", "dataset"}`` (AlpacaEval's
model-outputs file; ``dataset`` is the prompt set); `jsonl` has one object per output with ``prompt_id``,
``prompt``, ``output``, ``prompt_set``, ``category`` and ``generator`` — the shape `import_outputs` reads,
so an export loads into another arena unchanged. ``generator`` is the contender's slug.

Who gets what: the contender's submitter and staff get every output. Everyone else — only for a contender
they may see at all (approved) — gets the outputs that are not blind: an answer an open annotation task may
still serve (`arena.blindness`) is left out, since this file names its contender beside every answer.
Rows come from `QuerySet.iterator()`, a chunk at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from arena.blindness import blind_output_ids
from arena.errors import Invalid
from arena.models import Contender, Output
from arena.services.prompts import prompt_set_get

OUTPUT_FORMATS = ("alpaca_eval", "jsonl")
CONTENT_TYPES = {"alpaca_eval": "application/json", "jsonl": "application/x-ndjson; charset=utf-8"}
_CHUNK = 2000


def output_format_parse(params: Mapping) -> tuple[str, str]:
    """``(format, prompt set slug or "")`` from parameters; an unknown format or prompt set is `Invalid` (`NotFound`)."""
    fmt = params.get("format") or "jsonl"
    if fmt not in OUTPUT_FORMATS:
        raise Invalid(f"Unknown format {fmt!r}: choose one of {', '.join(OUTPUT_FORMATS)}.", field="format")
    prompt_set = params.get("prompt_set") or ""
    if prompt_set:
        prompt_set_get(slug=prompt_set)  # raises a 404 Invalid naming the slug
    return fmt, prompt_set


def outputs_exported(contender: Contender, *, prompt_set: str = "", sees_blind: bool):
    """The contender's outputs in prompt-set and prompt order, blind ones left out unless ``sees_blind``."""
    outputs = Output.objects.filter(contender=contender)
    if prompt_set:
        outputs = outputs.filter(prompt__prompt_set__slug=prompt_set)
    if not sees_blind:
        outputs = outputs.exclude(id__in=blind_output_ids())
    return outputs.order_by("prompt__prompt_set__slug", "prompt__external_id").values_list(
        "prompt__prompt_set__slug", "prompt__external_id", "prompt__text", "prompt__category", "text"
    )


def output_chunks(contender: Contender, *, fmt: str, prompt_set: str = "", sees_blind: bool) -> Iterator[str]:
    rows = outputs_exported(contender, prompt_set=prompt_set, sees_blind=sees_blind).iterator(
        chunk_size=_CHUNK
    )
    if fmt == "jsonl":
        for set_slug, prompt_id, prompt, category, text in rows:
            record = {
                "prompt_id": prompt_id,
                "prompt": prompt,
                "output": text,
                "prompt_set": set_slug,
                "category": category,
                "generator": contender.slug,
            }
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    separator = "\n"
    yield "["
    for set_slug, _, prompt, _, text in rows:
        record = {"instruction": prompt, "output": text, "generator": contender.slug, "dataset": set_slug}
        yield separator + json.dumps(record, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def outputs_filename(contender: Contender, fmt: str, prompt_set: str = "") -> str:
    parts = [contender.slug, "outputs", *([prompt_set] if prompt_set else [])]
    return "-".join(parts) + (".json" if fmt == "alpaca_eval" else ".jsonl")
