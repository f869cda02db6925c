"""Reading uploaded files: size, encoding, and the record formats for outputs and prompts.

Parsing is all-or-nothing: the first bad record raises an `InputError` naming the file and line, before
anything is written. Line numbers are 1-based; for JSON-list formats the record number is given too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from arena.errors import InputError
from arena.services.files import MAX_JSON_DEPTH, JsonTooDeep, json_loads_bounded, text_problem

OUTPUT_FORMATS = ("jsonl", "alpaca_eval")


@dataclass(frozen=True)
class OutputRecord:
    where: str  # "line 3" or "record 2 (line 7)", for messages
    output: str
    prompt_id: str | None = None
    prompt_text: str | None = None
    generator: str | None = None


@dataclass(frozen=True)
class PromptRecord:
    where: str
    external_id: str
    text: str
    category: str
    language: str
    reference_answer: str


def decode_upload(data: bytes, *, filename: str) -> str:
    """Check the size limit and decode UTF-8 (a BOM is accepted), or raise InputError."""
    limit = settings.ARENA_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise InputError(
            f"{filename}: the file is {len(data):,} bytes, over the upload limit of {limit:,} bytes "
            "(ARENA_MAX_UPLOAD_BYTES); split it into smaller files.",
            status=413,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{filename}, line {line}: the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8 and upload it again."
        ) from None
    if not text.strip():
        raise InputError(f"{filename}: the file is empty.")
    return text


def detect_output_format(text: str, *, filename: str) -> str:
    """AlpacaEval files are one JSON list; anything else is taken as JSONL (the content decides, not the name)."""
    return "alpaca_eval" if text.lstrip().startswith("[") else "jsonl"


def read_jsonl(text: str, *, filename: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (where, object) for each non-blank line, or raise InputError at the first bad one."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            value = json_loads_bounded(line)
        except JsonTooDeep:
            raise InputError(_too_deep(filename, where)) from None
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{filename}, {where}: malformed JSON ({exc.msg} at column {exc.colno})."
            ) from None
        if not isinstance(value, dict):
            raise InputError(f"{filename}, {where}: expected a JSON object, got {type(value).__name__}.")
        records.append((where, value))
    return records


def read_json_list(text: str, *, filename: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        value = json_loads_bounded(text)
    except JsonTooDeep:
        raise InputError(_too_deep(filename, "the JSON list")) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{filename}, line {exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})."
        ) from None
    if not isinstance(value, list):
        raise InputError(
            f"{filename}: expected a JSON list of objects (AlpacaEval format), got {type(value).__name__}."
        )
    records = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InputError(
                f"{filename}, record {number}: expected a JSON object, got {type(item).__name__}."
            )
        records.append((f"record {number}", item))
    return records


def _too_deep(filename: str, where: str) -> str:
    return (
        f"{filename}, {where}: JSON nested deeper than {MAX_JSON_DEPTH} levels; "
        "records are flat objects of strings."
    )


def _text_field(
    record: dict[str, Any], key: str, *, filename: str, where: str, required: bool = True
) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise InputError(f"{filename}, {where}: missing field {key!r}.", field=key)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("prompt_id", "id"):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(
            f"{filename}, {where}: field {key!r} must be a string, got {type(value).__name__}.", field=key
        )
    problem = text_problem(value)
    if problem:
        raise InputError(
            f"{filename}, {where}: field {key!r} {problem}, which cannot be stored; remove it from the file.",
            field=key,
        )
    return value


def parse_output_records(text: str, *, fmt: str | None, filename: str) -> list[OutputRecord]:
    fmt = fmt or detect_output_format(text, filename=filename)
    if fmt not in OUTPUT_FORMATS:
        raise InputError(
            f"Unknown output format {fmt!r}: use one of {', '.join(OUTPUT_FORMATS)}.", field="format"
        )
    if fmt == "jsonl":
        return [_jsonl_output(where, rec, filename) for where, rec in read_jsonl(text, filename=filename)]
    return [_alpaca_output(where, rec, filename) for where, rec in read_json_list(text, filename=filename)]


def _jsonl_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    prompt_id = _text_field(record, "prompt_id", filename=filename, where=where, required=False)
    prompt_text = _text_field(record, "prompt", filename=filename, where=where, required=False)
    if prompt_id is None and prompt_text is None:
        raise InputError(f"{filename}, {where}: give the prompt as 'prompt_id' (or its text as 'prompt').")
    output = _text_field(record, "output", filename=filename, where=where)
    return OutputRecord(where=where, output=output or "", prompt_id=prompt_id, prompt_text=prompt_text)


def _alpaca_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    instruction = _text_field(record, "instruction", filename=filename, where=where)
    output = _text_field(record, "output", filename=filename, where=where)
    generator = _text_field(record, "generator", filename=filename, where=where, required=False)
    return OutputRecord(where=where, output=output or "", prompt_text=instruction, generator=generator)


def parse_prompt_records(text: str, *, filename: str) -> list[PromptRecord]:
    records = []
    for where, rec in read_jsonl(text, filename=filename):
        ext_id = _text_field(rec, "id", filename=filename, where=where)
        body = _text_field(rec, "text", filename=filename, where=where)
        reference = _text_field(rec, "reference", filename=filename, where=where, required=False)
        if reference is None:
            reference = _text_field(rec, "reference_answer", filename=filename, where=where, required=False)
        records.append(
            PromptRecord(
                where=where,
                external_id=(ext_id or "").strip(),
                text=body or "",
                category=(
                    _text_field(rec, "category", filename=filename, where=where, required=False) or ""
                ).strip(),
                language=(
                    _text_field(rec, "language", filename=filename, where=where, required=False) or "en"
                ).strip(),
                reference_answer=reference or "",
            )
        )
    return records
