"""Votes that must not count: people judging their own contenders, and accounts too new to be trusted.

A submitter recognises their model's answers, so they are never served battles of contenders they submitted,
nor of their organization's when staff set one on their annotator row; should such a battle reach them anyway
(a contender registered after the serve), the vote is stored but left out of ratings. With
ARENA_VOTE_MIN_ACCOUNT_AGE set, votes from younger accounts without a verified email (and from anonymous
sessions) are stored, not counted; ARENA_VOTE_REQUIRE_VERIFIED_EMAIL asks every account for a verified email.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from arena.models import Annotator, Contender
from arena.services.email_verification import email_verified


def _conflicting(annotator_id: int) -> Q:
    # The vote's hot path checks the same rule inside its locking query (arena.voting.vote_store._LOCK).
    same_org = Annotator.objects.filter(
        pk=annotator_id, organization__iexact=OuterRef("organization")
    ).exclude(organization="")
    return Q(submitted_by__annotator=annotator_id) | (~Q(organization="") & Q(Exists(same_org)))


def contenders_conflicting(annotator: Annotator) -> QuerySet:
    """Ids of the contenders this annotator may not vote on (submitted by them or their organization's)."""
    return Contender.objects.filter(_conflicting(annotator.pk)).values("pk")


def account_unproven(user) -> bool:
    """True when the settings ask more of a voter's account than it has: with ARENA_VOTE_REQUIRE_VERIFIED_EMAIL
    a verified email; with ARENA_VOTE_MIN_ACCOUNT_AGE that age, or else a verified email. Anonymous sessions
    have neither, so they never count once either setting is on."""
    require_email, min_age = settings.ARENA_VOTE_REQUIRE_VERIFIED_EMAIL, settings.ARENA_VOTE_MIN_ACCOUNT_AGE
    if not (require_email or min_age):
        return False
    if user is None or not getattr(user, "pk", None):
        return True
    joined = getattr(user, "date_joined", None)
    young = bool(min_age) and (joined is None or joined > timezone.now() - timedelta(seconds=min_age))
    return (require_email or young) and not email_verified(user)
