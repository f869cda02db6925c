"""The record formats of an outputs file. Each turns one JSON object into an `OutputRecord` (the replies, one
per user turn, and how to find the prompt) or raises an `Invalid` naming the line.

- `jsonl`: `{"prompt_id" | "prompt", "output"}`, `output` a string, or for a conversation a list of strings
  (one reply per user turn).
- `alpaca_eval`: one JSON list of `{"instruction", "output", "generator"?}`: single-turn only.
- `mt_bench`: FastChat's `model_answer/*.jsonl`: `{"question_id", "model_id", "choices": [{"turns": [...]}]}`.
- `messages`: `{"prompt_id" | "id", "messages": [...], "model"?}`: the whole conversation, system message
  optional, user and assistant messages alternating and ending with the assistant's reply.

Whether the replies fit the prompt (as many as its turns; for `messages`, the same user turns) is checked by
`arena.services.outputs`, which knows the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arena.errors import Invalid
from arena.services.chat_messages import messages_read
from arena.services.upload_reading import first_record_keys, format_check, text_field, text_value, turns_field

OUTPUT_FORMATS = ("jsonl", "alpaca_eval", "mt_bench", "messages")


@dataclass(frozen=True)
class OutputRecord:
    where: str  # "line 3" or "record 2 (line 7)", for messages
    replies: tuple[str, ...]  # one per user turn of the prompt, in order
    prompt_id: str | None = None
    prompt_text: str | None = None
    generator: str | None = None
    # Only the `messages` format restates the conversation; the import checks it is the prompt's.
    user_turns: tuple[str, ...] | None = None
    system_message: str | None = None


def output_format_detect(text: str) -> str:
    """AlpacaEval files are one JSON list; JSON lines are MT-Bench answers or `messages` when their first record
    has that format's key, else the arena's `jsonl` (the content decides, not the file name)."""
    if text.lstrip().startswith("["):
        return "alpaca_eval"
    keys = first_record_keys(text)
    if "choices" in keys and "question_id" in keys:
        return "mt_bench"
    if "messages" in keys:
        return "messages"
    return "jsonl"


def output_format_check(fmt: str) -> str:
    return format_check(fmt, known=OUTPUT_FORMATS, what="outputs")


def output_parser(fmt: str) -> Callable[[str, dict[str, Any], str], OutputRecord]:
    parsers = {
        "jsonl": _jsonl_output,
        "alpaca_eval": _alpaca_output,
        "mt_bench": _mt_bench_output,
        "messages": _messages_output,
    }
    return parsers[fmt]


def _jsonl_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    prompt_id = text_field(record, "prompt_id", filename=filename, where=where, required=False)
    prompt_text = text_field(record, "prompt", filename=filename, where=where, required=False)
    if prompt_id is None and prompt_text is None:
        raise Invalid(f"{filename}, {where}: give the prompt as 'prompt_id' (or its text as 'prompt').")
    if isinstance(record.get("output"), list):
        replies = tuple(turns_field(record, "output", filename=filename, where=where, noun="reply"))
    else:
        replies = (text_field(record, "output", filename=filename, where=where) or "",)
    return OutputRecord(where=where, replies=replies, prompt_id=prompt_id, prompt_text=prompt_text)


def _alpaca_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    instruction = text_field(record, "instruction", filename=filename, where=where)
    output = text_field(record, "output", filename=filename, where=where)
    generator = text_field(record, "generator", filename=filename, where=where, required=False)
    return OutputRecord(where=where, replies=(output or "",), prompt_text=instruction, generator=generator)


def _mt_bench_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    prompt_id = text_field(record, "question_id", filename=filename, where=where) or ""
    model_id = text_field(record, "model_id", filename=filename, where=where, required=False)
    choices = record.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        got = f"{len(choices)} choices" if isinstance(choices, list) else type(choices).__name__
        raise Invalid(
            f"{filename}, {where}: field 'choices' must be a list of exactly one {{\"turns\": [...]}} object "
            f"(got {got}); keep one sample per question.",
            field="choices",
        )
    replies = turns_field(choices[0], "turns", filename=filename, where=f"{where}, choices[0]", noun="reply")
    return OutputRecord(where=where, replies=tuple(replies), prompt_id=prompt_id, generator=model_id)


def _messages_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    key = "prompt_id" if "prompt_id" in record else "id"
    prompt_id = text_field(record, key, filename=filename, where=where)
    model = record.get("model")
    generator = (
        None if model is None else text_value(model, filename=filename, where=where, what="field 'model'")
    )
    transcript = messages_read(record, filename=filename, where=where, with_replies=True)
    return OutputRecord(
        where=where,
        replies=transcript.replies,
        prompt_id=prompt_id,
        generator=generator,
        user_turns=transcript.user_turns,
        system_message=transcript.system,
    )
