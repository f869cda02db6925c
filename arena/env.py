"""Typed readers for settings taken from the environment.

Each helper refuses a malformed value with an `ImproperlyConfigured` that names the variable,
the value it got and what it expects, so a typo fails at start-up instead of becoming a silent default.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_size(name: str, default: int) -> int:
    """Read a byte size such as `5242880`, `512K`, `10M` or `1G` (binary multiples)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().upper().removesuffix("B")
    multipliers = {"K": 1024, "M": 1024**2, "G": 1024**3}
    factor = multipliers.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in multipliers else text
    if not (digits.isascii() and digits.isdigit()) or int(digits) == 0:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a positive size: write e.g. 5242880, 512K, 10M or 1G."
        )
    return int(digits) * factor
