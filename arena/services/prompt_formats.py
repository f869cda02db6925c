"""The record formats of a prompts file: the arena's own JSON lines, MT-Bench's `question.jsonl`, and OpenAI
`messages` lines. Each turns one JSON object into a `PromptRecord` or raises an `Invalid` naming the line.

- `jsonl`: `{"id", "text" | "turns", "system"?, "category"?, "language"?, "reference"?}`: `text` for one turn,
  `turns` (a list of strings) for a conversation.
- `mt_bench`: `{"question_id", "category", "turns": [...], "reference"?: [...]}` as FastChat writes it.
- `messages`: `{"id", "messages": [{"role", "content"}, ...], "category"?, "language"?, "reference"?}` with
  an optional system message and user turns only.

A file is read in one format: the one asked for, else the one its first record's keys show (`detect`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arena.errors import Invalid
from arena.services.chat_messages import messages_read
from arena.services.upload_reading import first_record_keys, format_check, text_field, text_value, turns_field

PROMPT_FORMATS = ("jsonl", "mt_bench", "messages")


@dataclass(frozen=True)
class PromptRecord:
    where: str
    external_id: str
    text: str  # the first user turn
    category: str
    language: str
    reference_answer: str
    later_turns: tuple[str, ...] = ()
    system_message: str = ""


def prompt_format_detect(text: str) -> str:
    """`messages` or `mt_bench` when the first record has that format's key, else the arena's `jsonl`."""
    keys = first_record_keys(text)
    if "messages" in keys:
        return "messages"
    if "question_id" in keys and "turns" in keys:
        return "mt_bench"
    return "jsonl"


def prompt_format_check(fmt: str) -> str:
    return format_check(fmt, known=PROMPT_FORMATS, what="prompts")


def prompt_parser(fmt: str) -> Callable[[str, dict[str, Any], str], PromptRecord]:
    return {"jsonl": _jsonl_prompt, "mt_bench": _mt_bench_prompt, "messages": _messages_prompt}[fmt]


def _common(rec: dict[str, Any], where: str, filename: str) -> dict[str, str]:
    def text(key: str) -> str:
        return (text_field(rec, key, filename=filename, where=where, required=False) or "").strip()

    return {"where": where, "category": text("category"), "language": text("language") or "en"}


def _jsonl_prompt(where: str, rec: dict[str, Any], filename: str) -> PromptRecord:
    def text(key: str, required: bool = False) -> str | None:
        return text_field(rec, key, filename=filename, where=where, required=required)

    ext_id = text("id", required=True)
    if "turns" in rec:
        if "text" in rec:
            raise Invalid(
                f"{filename}, {where}: give either 'text' (one turn) or 'turns' (a list), not both."
            )
        turns = turns_field(rec, "turns", filename=filename, where=where)
    else:
        turns = [text("text", required=True) or ""]
    reference = text("reference")
    if reference is None:
        reference = text("reference_answer")
    return PromptRecord(
        **_common(rec, where, filename),
        external_id=(ext_id or "").strip(),
        text=turns[0],
        later_turns=tuple(turns[1:]),
        system_message=text("system") or "",
        reference_answer=reference or "",
    )


def _mt_bench_prompt(where: str, rec: dict[str, Any], filename: str) -> PromptRecord:
    ext_id = text_field(rec, "question_id", filename=filename, where=where) or ""
    turns = turns_field(rec, "turns", filename=filename, where=where)
    return PromptRecord(
        **_common(rec, where, filename),
        external_id=ext_id.strip(),
        text=turns[0],
        later_turns=tuple(turns[1:]),
        reference_answer=_mt_bench_reference(rec.get("reference"), where=where, filename=filename),
    )


def _mt_bench_reference(value: Any, *, where: str, filename: str) -> str:
    """MT-Bench gives one reference answer per turn; the arena keeps one text, each turn's labelled."""
    if value is None:
        return ""
    if isinstance(value, str):
        return text_value(value, filename=filename, where=where, what="field 'reference'")
    if not isinstance(value, list):
        raise Invalid(
            f"{filename}, {where}: field 'reference' must be a list of strings (one per turn), got "
            f"{type(value).__name__}."
        )
    texts = [
        text_value(item, filename=filename, where=where, what=f"reference {n} of field 'reference'")
        for n, item in enumerate(value, start=1)
    ]
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(f"Turn {n}:\n{text}" for n, text in enumerate(texts, start=1) if text.strip())


def _messages_prompt(where: str, rec: dict[str, Any], filename: str) -> PromptRecord:
    ext_id = text_field(rec, "id", filename=filename, where=where) or ""
    transcript = messages_read(rec, filename=filename, where=where, with_replies=False)
    reference = text_field(rec, "reference", filename=filename, where=where, required=False)
    return PromptRecord(
        **_common(rec, where, filename),
        external_id=ext_id.strip(),
        text=transcript.user_turns[0],
        later_turns=transcript.user_turns[1:],
        system_message=transcript.system,
        reference_answer=reference or "",
    )
