"""Reading uploaded files, whatever their record format: size, encoding, JSON lines or one JSON list, the
problems found, and the field readers every format shares.

Parsing is all-or-nothing: bad records are collected (`Problems`, up to `MAX_PROBLEMS` listed) and raised
together as one `Invalid` naming the file and each line, before anything is written. Whole-file problems
(size, encoding, an empty file) are raised at once. Line numbers are 1-based; for JSON-list formats the
record number is given instead.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from arena.errors import DomainError, Invalid, TooLarge
from arena.services.files import MAX_JSON_DEPTH, JsonTooDeep, json_loads_bounded, text_problem

# Problems listed in one error; past this many, the message says how many more there are.
MAX_PROBLEMS = 50
# Fields that name a record and may be written as a JSON number (MT-Bench's question ids are integers).
ID_KEYS = ("prompt_id", "id", "question_id")


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


def text_field(
    record: dict[str, Any], key: str, *, filename: str, where: str, required: bool = True
) -> str | None:
    """The string in `record[key]` (None when absent and not `required`), or an `Invalid` naming the line."""
    value = record.get(key)
    if value is None:
        if required:
            raise Invalid(f"{filename}, {where}: missing field {key!r}.", field=key)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ID_KEYS:
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


def text_value(value: Any, *, filename: str, where: str, what: str) -> str:
    """`value` as storable text, or an `Invalid` naming `what` (e.g. "turn 2 of field 'turns'")."""
    if not isinstance(value, str):
        raise Invalid(f"{filename}, {where}: {what} must be a string, got {type(value).__name__}.")
    problem = text_problem(value)
    if problem:
        raise Invalid(
            f"{filename}, {where}: {what} {problem}, which cannot be stored; remove it from the file."
        )
    return value


def turns_field(
    record: dict[str, Any], key: str, *, filename: str, where: str, noun: str = "turn"
) -> list[str]:
    """A required non-empty list of non-blank strings (the turns of a conversation, or its replies)."""
    value = record.get(key)
    if value is None:
        raise Invalid(f"{filename}, {where}: missing field {key!r}.", field=key)
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else type(value).__name__
        raise Invalid(
            f"{filename}, {where}: field {key!r} must be a list of one {noun} or more (strings), got {got}.",
            field=key,
        )
    texts = []
    for number, item in enumerate(value, start=1):
        text = text_value(item, filename=filename, where=where, what=f"{noun} {number} of field {key!r}")
        if not text.strip():
            raise Invalid(f"{filename}, {where}: {noun} {number} of field {key!r} is empty.", field=key)
        texts.append(text)
    return texts


def first_record_keys(text: str) -> set[str]:
    """The keys of the file's first JSON-lines record, for format detection; empty when it is not an object
    (the chosen parser then reports the line properly)."""
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json_loads_bounded(line)
        except (JsonTooDeep, ValueError):
            return set()
        return set(value) if isinstance(value, dict) else set()
    return set()


def format_check(fmt: str, *, known: tuple[str, ...] | list[str], what: str) -> str:
    """`fmt` if it is one of the `known` formats for `what` (prompts, outputs), else a clear `Invalid`."""
    if fmt not in known:
        raise Invalid(
            f"Unknown format {fmt!r} for {what}: use one of {', '.join(known)}, or omit it to detect.",
            field="format",
        )
    return fmt
