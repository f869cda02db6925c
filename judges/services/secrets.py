"""Resolving API-key references at call time, and keeping keys out of everything we store or show.

A reference is the name of an environment variable or the path of a secret file; the key itself lives only
in the memory of the process making the call. It is never written to the database, a page, a log line or
an API response: every error text that might contain it passes through `redact` first, and so does every
reply a provider sends back (text, parsed rationale and raw JSON), since a server may echo the key it got.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from judges.providers import PermanentProviderError

MAX_KEY_FILE_BYTES = 16 * 1024


class ApiKeyMissingError(PermanentProviderError):
    """The reference names no usable key in this process; fix the environment or the file, then resume."""


def api_key_resolve(*, env_name: str = "", file_path: str = "", owner: str) -> str:
    """The key a reference points to; "" when there is no reference (local servers need none).

    `owner` names what asked (e.g. "judge config 'gpt4o'") so the error says where to look.
    """
    if env_name:
        return _from_env(env_name, owner)
    if file_path:
        return _from_file(file_path, owner)
    return ""


def api_key_check(*, env_name: str = "", file_path: str = "", owner: str) -> None:
    """Raise ApiKeyMissingError now, in this process, rather than on the first paid call."""
    api_key_resolve(env_name=env_name, file_path=file_path, owner=owner)


def redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def redact_data(value: Any, *secrets: str) -> Any:
    """`redact` applied to every string inside a JSON-like value (dicts, lists), keys included."""
    if not any(secrets):
        return value
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, dict):
        return {redact_data(k, *secrets): redact_data(v, *secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(item, *secrets) for item in value]
    return value


def _from_env(name: str, owner: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ApiKeyMissingError(
            f"{owner} reads its API key from the environment variable {name}, which is not set (or empty) "
            "in this process; set it for the web server and every worker, or point the config at a "
            "secret file",
            provider="keys",
        )
    return value


def _from_file(path: str, owner: str) -> str:
    try:
        data = Path(path).read_bytes()[:MAX_KEY_FILE_BYTES]
    except OSError as exc:
        raise ApiKeyMissingError(
            f"{owner} reads its API key from the file {path}, which cannot be read ({exc.strerror}); "
            "mount the secret there for the web server and every worker",
            provider="keys",
        ) from None
    value = data.decode("utf-8", errors="replace").strip()
    if not value:
        raise ApiKeyMissingError(f"{owner}: the API key file {path} is empty", provider="keys")
    return value
