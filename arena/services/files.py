"""Reading what people send: uploads within the size limit, JSON within a depth limit, text the database stores;
writing files atomically."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

from arena.errors import Invalid, TooLarge

# Arena records are flat objects; nothing legitimate nests this deep. Python's parser would otherwise recurse
# until RecursionError (a 500) on a few kilobytes of "[[[[...".
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def read_limited(uploaded) -> bytes:
    """Read an uploaded file, stopping one byte past the limit so oversize files never fill memory.

    A file known to be over the limit raises `TooLarge` stating its real size and the limit.
    """
    limit = settings.ARENA_MAX_UPLOAD_BYTES
    size = getattr(uploaded, "size", None)
    if size is not None and size > limit:
        raise TooLarge(
            f"{uploaded.name or 'upload'}: the file is {size:,} bytes, over the upload limit of {limit:,} "
            "bytes (ARENA_MAX_UPLOAD_BYTES); split it into smaller files.",
        )
    return uploaded.read(limit + 1)


def upload_limit_message() -> str:
    """What the 413 answer says: the real limit, in bytes and in the unit the setting is usually written in."""
    limit = settings.ARENA_MAX_UPLOAD_BYTES
    return (
        f"The request body is over the upload limit of {limit:,} bytes ({limit / 1024 / 1024:.1f} MiB, "
        "ARENA_MAX_UPLOAD_BYTES); split the file into smaller ones."
    )


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (None when it can): a NUL byte or a lone surrogate."""
    if "\x00" in value:
        return "contains a NUL byte (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (brackets inside strings do not count)."""
    opens = text.count("[") + text.count("{")
    if opens <= MAX_JSON_DEPTH:
        return opens  # an upper bound: cheap, and enough for nearly every record
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json_too_deep(text: str) -> bool:
    return json_depth(text) > MAX_JSON_DEPTH


class JsonTooDeep(ValueError):
    pass


def json_loads_bounded(text: str) -> Any:
    """`json.loads`, refusing documents nested deeper than MAX_JSON_DEPTH with JsonTooDeep."""
    if json_too_deep(text):
        raise JsonTooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(text)


def json_text_problem(value: Any) -> tuple[str, str] | None:
    """(JSON path, problem) of the first string (key or value) in a parsed document that is not storable."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path or "/", problem
        elif isinstance(item, dict):
            for key, sub in item.items():
                problem = text_problem(key)
                if problem:
                    return f"{path}/{key!r} (a key)", problem
                stack.append((f"{path}/{key}", sub))
        elif isinstance(item, list):
            stack.extend((f"{path}/{i}", sub) for i, sub in enumerate(item))
    return None


def text_write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``path`` through a temporary file renamed into place, so a failure part-way (or an
    interrupt) leaves no half-written file; a missing folder is `Invalid` and nothing is written."""
    if not path.parent.is_dir():
        raise Invalid(f"{path}: the folder {path.parent} does not exist.", field="output")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.writelines(chunks)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
