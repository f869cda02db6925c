"""Refusing text longer than its column, with a message, before the database refuses it with a 500."""

from __future__ import annotations

from django.db import models

from arena.errors import Invalid


def lengths_check(model: type[models.Model], values: dict[str, str], *, where: str = "") -> None:
    """Raise Invalid for the first value longer than its model field's `max_length`.

    `where` prefixes the message (e.g. "prompts.jsonl, line 3: ") so the error points at its source.
    """
    for name, value in values.items():
        limit = model._meta.get_field(name).max_length
        if limit is not None and value is not None and len(value) > limit:
            raise Invalid(
                f"{where}{name!r} is {len(value):,} characters long; the limit is {limit:,}.", field=name
            )
