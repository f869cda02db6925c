"""Votes that must not count: people judging their own contenders, and accounts too new to be trusted.

A submitter recognises their model's answers, so they are never served battles of contenders they submitted,
nor of their organization's when staff set one on their annotator row; should such a battle reach them anyway
(a contender registered after the serve), the vote is stored but left out of ratings. With
ARENA_VOTE_MIN_ACCOUNT_AGE set, votes from younger accounts (and anonymous sessions) are stored, not counted.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from arena.models import Annotator, Contender


def _conflicting(annotator_id: int) -> Q:
    # The vote's hot path checks the same rule inside its locking query (arena.voting.vote_store._LOCK).
    same_org = Annotator.objects.filter(
        pk=annotator_id, organization__iexact=OuterRef("organization")
    ).exclude(organization="")
    return Q(submitted_by__annotator=annotator_id) | (~Q(organization="") & Q(Exists(same_org)))


def contenders_conflicting(annotator: Annotator) -> QuerySet:
    """Ids of the contenders this annotator may not vote on (submitted by them or their organization's)."""
    return Contender.objects.filter(_conflicting(annotator.pk)).values("pk")


def account_too_young(user) -> bool:
    """True when ARENA_VOTE_MIN_ACCOUNT_AGE is set and the voter has no account that old (sessions included)."""
    min_age = settings.ARENA_VOTE_MIN_ACCOUNT_AGE
    if not min_age:
        return False
    if user is None or not getattr(user, "date_joined", None):
        return True
    return user.date_joined > timezone.now() - timedelta(seconds=min_age)
