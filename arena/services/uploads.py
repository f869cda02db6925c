"""Uploaded prompts and outputs files into records, in the format asked for or the one detected.

All or nothing: bad records are collected and raised together as one `Invalid` naming the file and each
line (see `upload_reading`), before anything is written. The formats themselves are in `prompt_formats` and
`output_formats`; docs/conversations.md describes them for people.
"""

from __future__ import annotations

from arena.services.output_formats import (
    OUTPUT_FORMATS,
    OutputRecord,
    output_format_check,
    output_format_detect,
    output_parser,
)
from arena.services.prompt_formats import (
    PROMPT_FORMATS,
    PromptRecord,
    prompt_format_check,
    prompt_format_detect,
    prompt_parser,
)
from arena.services.upload_reading import MAX_PROBLEMS, Problems, decode_upload, read_json_list, read_jsonl

__all__ = [
    "MAX_PROBLEMS",
    "OUTPUT_FORMATS",
    "PROMPT_FORMATS",
    "OutputRecord",
    "Problems",
    "PromptRecord",
    "decode_upload",
    "parse_output_records",
    "parse_prompt_records",
]


def parse_output_records(
    text: str, *, fmt: str | None, filename: str, problems: Problems | None = None
) -> list[OutputRecord]:
    """The file's good records; bad ones go to `problems` (without it, they are raised together)."""
    fmt = output_format_check(fmt) if fmt else output_format_detect(text)
    own = problems is None
    problems = problems or Problems(filename)
    reader = read_json_list if fmt == "alpaca_eval" else read_jsonl
    parse = output_parser(fmt)
    raw = reader(text, filename=filename, problems=problems)
    records = [problems.check(parse, where, rec, filename) for where, rec in raw]
    if own:
        problems.raise_if_any()
    return [record for record in records if record is not None]


def parse_prompt_records(text: str, *, filename: str, fmt: str | None = None) -> list[PromptRecord]:
    """Every record of a prompts file, or one Invalid listing every bad line."""
    fmt = prompt_format_check(fmt) if fmt else prompt_format_detect(text)
    parse = prompt_parser(fmt)
    problems = Problems(filename)
    records = []
    for where, rec in read_jsonl(text, filename=filename, problems=problems):
        record = problems.check(parse, where, rec, filename)
        if record is not None:
            records.append(record)
    problems.raise_if_any()
    return records
