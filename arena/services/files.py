import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from arena.errors import InputError


def read_limited(uploaded) -> bytes:
    """Read an uploaded file, stopping one byte past the limit so oversize files never fill memory."""
    return uploaded.read(settings.ARENA_MAX_UPLOAD_BYTES + 1)


def text_write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``path`` through a temporary file renamed into place, so a failure part-way (or an
    interrupt) leaves no half-written file; a missing folder is an InputError and nothing is written."""
    if not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist.", field="output")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.writelines(chunks)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
