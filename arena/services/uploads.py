"""Reading uploaded files: size, encoding, and the record formats for outputs and prompts.

Parsing is all-or-nothing: bad records are collected (`Problems`, up to `MAX_PROBLEMS` listed) and raised
together as one `Invalid` naming the file and each line, before anything is written. Whole-file problems
(size, encoding, an empty file) are raised at once. Line numbers are 1-based; for JSON-list formats the
record number is given instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from arena.errors import DomainError, Invalid, TooLarge
from arena.services.files import MAX_JSON_DEPTH, JsonTooDeep, json_loads_bounded, text_problem

OUTPUT_FORMATS = ("jsonl", "alpaca_eval")
# Problems listed in one error; past this many, the message says how many more there are.
MAX_PROBLEMS = 50


class Problems:
    """What is wrong with one uploaded file, collected record by record so one error can list them all."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[DomainError] = []
        self.count = 0

    def add(self, error: Invalid) -> None:
        self.count += 1
        if len(self.errors) < MAX_PROBLEMS:
            self.errors.append(error)

    def check(self, function, *args, **kwargs):
        """`function(...)`'s value, or None after recording the `Invalid` it raised."""
        try:
            return function(*args, **kwargs)
        except DomainError as error:
            self.add(error)
            return None

    def raise_if_any(self) -> None:
        """Raise the one problem as it was, or an error listing every problem (one a line)."""
        if self.count == 0:
            return
        if self.count == 1:
            raise self.errors[0]
        lines = [error.message for error in self.errors]
        if self.count > len(lines):
            lines.append(f"... and {self.count - len(lines)} more problems not listed.")
        summary = (
            f"{self.filename}: {self.count} problems, so nothing was imported; fix them all and upload the "
            "file again."
        )
        raise Invalid(summary + "\n" + "\n".join(lines), problems=lines)


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
    """Check the size limit and decode UTF-8 (a BOM is accepted), or raise Invalid."""
    limit = settings.ARENA_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise TooLarge(
            f"{filename}: the file is {len(data):,} bytes, over the upload limit of {limit:,} bytes "
            "(ARENA_MAX_UPLOAD_BYTES); split it into smaller files.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Invalid(
            f"{filename}, line {line}: the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8 and upload it again."
        ) from None
    if not text.strip():
        raise Invalid(f"{filename}: the file is empty.")
    return text


def detect_output_format(text: str, *, filename: str) -> str:
    """AlpacaEval files are one JSON list; anything else is taken as JSONL (the content decides, not the name)."""
    return "alpaca_eval" if text.lstrip().startswith("[") else "jsonl"


def read_jsonl(
    text: str, *, filename: str, problems: Problems | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Return (where, object) for each good non-blank line. Bad lines go to `problems`; without it, they
    are raised together at the end."""
    own = problems is None
    problems = problems or Problems(filename)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        value = problems.check(_json_line, line, where=where, filename=filename)
        if value is not None:
            records.append((where, value))
    if own:
        problems.raise_if_any()
    return records


def _json_line(line: str, *, where: str, filename: str) -> dict[str, Any]:
    try:
        value = json_loads_bounded(line)
    except JsonTooDeep:
        raise Invalid(_too_deep(filename, where)) from None
    except json.JSONDecodeError as exc:
        raise Invalid(f"{filename}, {where}: malformed JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(value, dict):
        raise Invalid(f"{filename}, {where}: expected a JSON object, got {type(value).__name__}.")
    return value


def read_json_list(
    text: str, *, filename: str, problems: Problems | None = None
) -> list[tuple[str, dict[str, Any]]]:
    try:
        value = json_loads_bounded(text)
    except JsonTooDeep:
        raise Invalid(_too_deep(filename, "the JSON list")) from None
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"{filename}, line {exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})."
        ) from None
    if not isinstance(value, list):
        raise Invalid(
            f"{filename}: expected a JSON list of objects (AlpacaEval format), got {type(value).__name__}."
        )
    own = problems is None
    problems = problems or Problems(filename)
    records = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            problems.add(
                Invalid(f"{filename}, record {number}: expected a JSON object, got {type(item).__name__}.")
            )
            continue
        records.append((f"record {number}", item))
    if own:
        problems.raise_if_any()
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
            raise Invalid(f"{filename}, {where}: missing field {key!r}.", field=key)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("prompt_id", "id"):
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(
            f"{filename}, {where}: field {key!r} must be a string, got {type(value).__name__}.", field=key
        )
    problem = text_problem(value)
    if problem:
        raise Invalid(
            f"{filename}, {where}: field {key!r} {problem}, which cannot be stored; remove it from the file.",
            field=key,
        )
    return value


def parse_output_records(
    text: str, *, fmt: str | None, filename: str, problems: Problems | None = None
) -> list[OutputRecord]:
    """The file's good records; bad ones go to `problems` (without it, they are raised together)."""
    fmt = fmt or detect_output_format(text, filename=filename)
    if fmt not in OUTPUT_FORMATS:
        raise Invalid(
            f"Unknown output format {fmt!r}: use one of {', '.join(OUTPUT_FORMATS)}.", field="format"
        )
    own = problems is None
    problems = problems or Problems(filename)
    if fmt == "jsonl":
        raw, parse = read_jsonl(text, filename=filename, problems=problems), _jsonl_output
    else:
        raw, parse = read_json_list(text, filename=filename, problems=problems), _alpaca_output
    records = [problems.check(parse, where, rec, filename) for where, rec in raw]
    if own:
        problems.raise_if_any()
    return [record for record in records if record is not None]


def _jsonl_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    prompt_id = _text_field(record, "prompt_id", filename=filename, where=where, required=False)
    prompt_text = _text_field(record, "prompt", filename=filename, where=where, required=False)
    if prompt_id is None and prompt_text is None:
        raise Invalid(f"{filename}, {where}: give the prompt as 'prompt_id' (or its text as 'prompt').")
    output = _text_field(record, "output", filename=filename, where=where)
    return OutputRecord(where=where, output=output or "", prompt_id=prompt_id, prompt_text=prompt_text)


def _alpaca_output(where: str, record: dict[str, Any], filename: str) -> OutputRecord:
    instruction = _text_field(record, "instruction", filename=filename, where=where)
    output = _text_field(record, "output", filename=filename, where=where)
    generator = _text_field(record, "generator", filename=filename, where=where, required=False)
    return OutputRecord(where=where, output=output or "", prompt_text=instruction, generator=generator)


def parse_prompt_records(text: str, *, filename: str) -> list[PromptRecord]:
    problems = Problems(filename)
    records = []
    for where, rec in read_jsonl(text, filename=filename, problems=problems):
        record = problems.check(_prompt_record, where, rec, filename)
        if record is not None:
            records.append(record)
    problems.raise_if_any()
    return records


def _prompt_record(where: str, rec: dict[str, Any], filename: str) -> PromptRecord:
    def text(key: str, required: bool = False) -> str | None:
        return _text_field(rec, key, filename=filename, where=where, required=required)

    ext_id = text("id", required=True)
    body = text("text", required=True)
    reference = text("reference")
    if reference is None:
        reference = text("reference_answer")
    return PromptRecord(
        where=where,
        external_id=(ext_id or "").strip(),
        text=body or "",
        category=(text("category") or "").strip(),
        language=(text("language") or "en").strip(),
        reference_answer=reference or "",
    )
