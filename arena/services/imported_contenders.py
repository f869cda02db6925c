"""Contenders named by imported files (battle files, judgment studies): one slug rule, one way to create them.

Imports name systems freely ("gpt-3.5-turbo", "Guanaco 65B"); each name maps to a slug once, and two names
that would share a slug are refused rather than silently merged. New contenders are pending unless the
importer approves them, like any submission.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.text import slugify

from arena.errors import Invalid
from arena.models import Contender


def contender_slugs(names: Iterable[str], *, kind: str = "Contender name") -> dict[str, str]:
    """Name → slug (the name itself when it is a valid slug); refuses names that would share a slug.

    `kind` names what the file calls them ("System name", ...) in the error message."""
    slugs: dict[str, str] = {}
    owners: dict[str, str] = {}
    for name in names:
        slug = name if slugify(name) == name and len(name) <= 100 else slugify(name.replace(".", "-"))[:100]
        if not slug:
            raise Invalid(f"{kind} {name!r} has no letters or digits to make a slug from; rename it.")
        if slug in owners:
            raise Invalid(
                f"{kind}s {owners[slug]!r} and {name!r} would both get the slug {slug!r}; "
                "rename one of them in the file."
            )
        owners[slug] = name
        slugs[name] = slug
    return slugs


def contenders_ensure(
    slugs: dict[str, str], *, approve_new: bool, note: str
) -> tuple[dict[str, Contender], list[str]]:
    """The contender of every name in `slugs` (name → slug), creating the missing ones with `note` as their
    description, approved or pending. Returns (name → contender, slugs created). Call inside the import's
    transaction: it writes."""
    existing = {c.slug: c for c in Contender.objects.filter(slug__in=slugs.values())}
    status = Contender.Status.APPROVED if approve_new else Contender.Status.PENDING
    new = [
        Contender(slug=slug, name=name[:200], status=status, description=note[:2000])
        for name, slug in slugs.items()
        if slug not in existing
    ]
    Contender.objects.bulk_create(new)
    by_slug = {c.slug: c for c in Contender.objects.filter(slug__in=slugs.values())}
    return {name: by_slug[slug] for name, slug in slugs.items()}, [c.slug for c in new]
