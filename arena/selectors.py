"""Reads for pages and the API: who may see what."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from arena.errors import NotFound
from arena.models import Contender
from arena.staff import is_staff


def contenders_public() -> QuerySet[Contender]:
    return Contender.objects.filter(status=Contender.Status.APPROVED).annotate(n_outputs=Count("outputs"))


def contenders_of(user) -> QuerySet[Contender]:
    return (
        Contender.objects.filter(submitted_by=user).annotate(n_outputs=Count("outputs")).order_by("-created")
    )


def can_manage(user, contender: Contender) -> bool:
    return is_staff(user) or (user.is_authenticated and contender.submitted_by_id == user.pk)


def contender_visible_or_404(user, slug: str) -> Contender:
    """Approved contenders are public; others only to their submitter and staff (404 to anyone else)."""
    contender = Contender.objects.filter(slug=slug).first()
    if contender is None or not (contender.is_public or can_manage(user, contender)):
        raise NotFound("No such contender.")
    return contender


def contender_managed_or_404(user, slug: str) -> Contender:
    contender = Contender.objects.filter(slug=slug).first()
    if contender is None or not can_manage(user, contender):
        raise NotFound("No such contender.")
    return contender


def identity_leaks_of(contender: Contender) -> list:
    """The contender's answers flagged as naming a model or vendor (staff pages only), first 100."""
    return list(contender.outputs.exclude(identity_leak="").select_related("prompt__prompt_set")[:100])
