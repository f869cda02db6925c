"""Registering contenders and moving them through review."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction

from arena.errors import InputError
from arena.models import Contender
from arena.services.lengths import lengths_check

_ENV_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _check_slug(slug: str) -> None:
    lengths_check(Contender, {"slug": slug})
    try:
        validate_slug(slug)
    except ValidationError:
        raise InputError(
            f"Slug {slug!r} is not valid: use letters, digits, hyphens and underscores only.", field="slug"
        ) from None


def _check_endpoint(url: str, api_key_env: str) -> None:
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise InputError(f"Endpoint {url!r} is not an http(s) URL.", field="endpoint_url") from None
    if api_key_env and not set(api_key_env) <= _ENV_NAME_CHARS:
        raise InputError(
            f"{api_key_env!r} is not an environment variable name: use capitals, digits and underscores "
            "(the key itself is never stored).",
            field="endpoint_api_key_env",
        )


def contender_register(
    *,
    submitted_by,
    slug: str,
    name: str,
    organization: str = "",
    license: str = "",
    description: str = "",
    endpoint_url: str = "",
    endpoint_model: str = "",
    endpoint_api_key_env: str = "",
) -> Contender:
    """Create a pending contender; staff approve it before it shows on public pages."""
    slug, name = slug.strip(), name.strip()
    _check_slug(slug)
    if not name:
        raise InputError("Give the contender a display name.", field="name")
    _check_endpoint(endpoint_url.strip(), endpoint_api_key_env.strip())
    lengths_check(
        Contender,
        {
            "name": name,
            "organization": organization.strip(),
            "license": license.strip(),
            "endpoint_url": endpoint_url.strip(),
            "endpoint_model": endpoint_model.strip(),
            "endpoint_api_key_env": endpoint_api_key_env.strip(),
        },
    )
    try:
        with transaction.atomic():
            return Contender.objects.create(
                slug=slug,
                name=name,
                organization=organization.strip(),
                license=license.strip(),
                description=description.strip(),
                endpoint_url=endpoint_url.strip(),
                endpoint_model=endpoint_model.strip(),
                endpoint_api_key_env=endpoint_api_key_env.strip(),
                submitted_by=submitted_by,
            )
    except IntegrityError:
        raise InputError(
            f"A contender with slug {slug!r} already exists: choose another slug.", field="slug"
        ) from None


def contender_set_status(*, contender: Contender, status: str) -> bool:
    """Set the review status; returns whether anything changed."""
    if status not in Contender.Status.values:
        raise InputError(
            f"Unknown status {status!r}: use one of {', '.join(Contender.Status.values)}.", field="status"
        )
    changed = Contender.objects.filter(pk=contender.pk).exclude(status=status).update(status=status)
    contender.status = status
    return bool(changed)


def contender_get(*, slug: str) -> Contender:
    try:
        return Contender.objects.get(slug=slug)
    except Contender.DoesNotExist:
        raise InputError(f"No contender with slug {slug!r}.", field="contender", status=404) from None
