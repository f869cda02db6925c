"""A contender's outputs out, so they can be run through other evaluators: AlpacaEval JSON or JSON lines.

`alpaca_eval` is one JSON list of ``{"instruction", "output", "generator", "dataset"}`` (AlpacaEval's
model-outputs file; ``dataset`` is the prompt set); `jsonl` has one object per output with ``prompt_id``,
``prompt``, ``output``, ``prompt_set``, ``category`` and ``generator`` — the shape `import_outputs` reads,
so an export loads into another arena unchanged. ``generator`` is the contender's slug. An answer to a
multi-turn prompt has ``output`` as a list (one reply per turn) and the user turns as ``turns``; AlpacaEval's
format holds one reply, so asking for it when the selection has such answers is refused before anything is
written.

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
        "prompt__prompt_set__slug", "prompt__external_id", "prompt__text", "prompt__category", "text",
        "prompt__later_turns", "later_replies",
    )  # fmt: skip


def output_chunks(contender: Contender, *, fmt: str, prompt_set: str = "", sees_blind: bool) -> Iterator[str]:
    """The export's text, a chunk at a time. Checked before the first chunk (this is not a generator): a
    selection AlpacaEval's format cannot hold raises Invalid here, so nothing is sent."""
    outputs = outputs_exported(contender, prompt_set=prompt_set, sees_blind=sees_blind)
    if fmt == "alpaca_eval":
        multi = outputs.exclude(prompt__later_turns=[]).values_list("prompt__prompt_set__slug", flat=True)
        first = multi.first()
        if first is not None:
            raise Invalid(
                f"Prompt set {first!r} has multi-turn prompts, and AlpacaEval's format holds one reply per "
                "prompt: download format=jsonl (or choose a single-turn prompt set).",
                field="format",
            )
    rows = outputs.iterator(chunk_size=_CHUNK)
    return _jsonl_chunks(contender, rows) if fmt == "jsonl" else _alpaca_chunks(contender, rows)


def _jsonl_chunks(contender: Contender, rows) -> Iterator[str]:
    for set_slug, prompt_id, prompt, category, text, later_turns, later_replies in rows:
        record = {
            "prompt_id": prompt_id,
            "prompt": prompt,
            "output": [text, *later_replies] if later_turns else text,
            "prompt_set": set_slug,
            "category": category,
            "generator": contender.slug,
        }
        if later_turns:
            record["turns"] = [prompt, *later_turns]
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _alpaca_chunks(contender: Contender, rows) -> Iterator[str]:
    separator = "\n"
    yield "["
    for set_slug, _, prompt, _, text, _, _ in rows:
        record = {"instruction": prompt, "output": text, "generator": contender.slug, "dataset": set_slug}
        yield separator + json.dumps(record, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def outputs_filename(contender: Contender, fmt: str, prompt_set: str = "") -> str:
    parts = [contender.slug, "outputs", *([prompt_set] if prompt_set else [])]
    return "-".join(parts) + (".json" if fmt == "alpaca_eval" else ".jsonl")
