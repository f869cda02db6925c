"""Registering contenders and moving them through review."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from arena.errors import Invalid, NotFound
from arena.models import Contender
from arena.services.endpoints import endpoint_key_name_check, endpoint_url_check
from arena.services.lengths import lengths_check


def _check_slug(slug: str) -> None:
    lengths_check(Contender, {"slug": slug})
    try:
        validate_slug(slug)
    except ValidationError:
        raise Invalid(
            f"Slug {slug!r} is not valid: use letters, digits, hyphens and underscores only.", field="slug"
        ) from None


def _check_unused(slug: str, name: str) -> None:
    """Slugs and names are unique whatever their case. The message is the same whether the holder is public
    or still pending review, so registering cannot probe for contenders nobody may see yet."""
    if Contender.objects.filter(slug__iexact=slug).exists():
        raise Invalid(
            f"The slug {slug!r} is not available (slugs are compared ignoring case): choose another slug.",
            field="slug",
        )
    if Contender.objects.filter(name__iexact=name).exists():
        raise Invalid(
            f"The name {name!r} is not available (names are compared ignoring case): choose another name.",
            field="name",
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
) -> Contender:
    """Create a pending contender; staff approve it before it shows on public pages.

    Submitters give an endpoint's URL and model only: which key (if any) the endpoint receives is staff's
    choice, from ARENA_ENDPOINT_KEY_NAMES (`contender_endpoint_key_set`). The URL is checked now and again
    before every call (arena.services.endpoints).
    """
    slug, name, endpoint_url = slug.strip(), name.strip(), endpoint_url.strip()
    _check_slug(slug)
    if not name:
        raise Invalid("Give the contender a display name.", field="name")
    lengths_check(
        Contender,
        {
            "name": name,
            "organization": organization.strip(),
            "license": license.strip(),
            "endpoint_url": endpoint_url,
            "endpoint_model": endpoint_model.strip(),
        },
    )
    if endpoint_url:
        endpoint_url_check(endpoint_url)
    _check_unused(slug, name)
    try:
        with transaction.atomic():
            return Contender.objects.create(
                slug=slug,
                name=name,
                organization=organization.strip(),
                license=license.strip(),
                description=description.strip(),
                endpoint_url=endpoint_url,
                endpoint_model=endpoint_model.strip(),
                submitted_by=submitted_by,
            )
    except IntegrityError:  # registered at the same moment by someone else: the database's unique indexes
        raise Invalid(
            f"The slug {slug!r} or the name {name!r} is not available: choose another.", field="slug"
        ) from None


def contender_endpoint_key_set(*, contender: Contender, key_name: str) -> bool:
    """Staff only: the environment variable whose value the endpoint receives ("" for none)."""
    endpoint_key_name_check(key_name)
    changed = (
        Contender.objects.filter(pk=contender.pk)
        .exclude(endpoint_api_key_env=key_name)
        .update(endpoint_api_key_env=key_name)
    )
    contender.endpoint_api_key_env = key_name
    return bool(changed)


def contender_set_status(*, contender: Contender, status: str) -> bool:
    """Set the review status; returns whether anything changed."""
    if status not in Contender.Status.values:
        raise Invalid(
            f"Unknown status {status!r}: use one of {', '.join(Contender.Status.values)}.", field="status"
        )
    changed = Contender.objects.filter(pk=contender.pk).exclude(status=status).update(status=status)
    contender.status = status
    return bool(changed)


def contender_get(*, slug: str) -> Contender:
    try:
        return Contender.objects.get(slug=slug)
    except Contender.DoesNotExist:
        raise NotFound(f"No contender with slug {slug!r}.", field="contender") from None
