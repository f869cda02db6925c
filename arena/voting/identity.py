"""Who is voting: a signed-in user, or (when the arena allows it) an anonymous browser session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from arena.errors import Forbidden
from arena.models import Annotator

# The session keeps a random id rather than its own key: Django rotates the session key at sign-in.
SESSION_VOTER = "arena_voter"


@dataclass(frozen=True)
class Voter:
    """`key` is the Verdict.voter_key: "u:<user id>" or "s:<hash of the session's voter id>"."""

    key: str
    user: object | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.key.startswith("s:")


def voter_for_request(request: HttpRequest, *, create: bool) -> Voter:
    """The voter behind this request; anonymous sessions get an id only when `create` (serving, not voting).

    Raises Forbidden when anonymous voting is off and nobody is signed in, or when a vote comes from a
    session that was never served a battle.
    """
    if request.user.is_authenticated:
        return Voter(key=f"u:{request.user.pk}", user=request.user)
    if not settings.ARENA_ANONYMOUS_VOTING:
        raise Forbidden("Sign in to vote: this arena counts votes from signed-in annotators only.")
    voter_id = request.session.get(SESSION_VOTER)
    if voter_id is None:
        if not create:
            raise Forbidden("This browser session was never shown a battle: load one, then vote.")
        voter_id = request.session[SESSION_VOTER] = secrets.token_urlsafe(24)
    return Voter(key="s:" + hashlib.sha256(voter_id.encode()).hexdigest()[:40])


def annotator_for(voter: Voter) -> Annotator:
    """The voter's Annotator row, created on first use (concurrent first requests share one row)."""
    # A raw query (Django still applies the fields' converters): the ORM compiling this one-row look-up on
    # every served battle cost the web process twice what the row does (0.41 against 0.18 ms).
    sql = f"SELECT * FROM {Annotator._meta.db_table} WHERE voter_key = %s"
    annotator = next(iter(Annotator.objects.raw(sql, [voter.key])), None)
    if annotator is not None:
        return annotator
    try:
        with transaction.atomic():
            return Annotator.objects.create(voter_key=voter.key, user=voter.user)
    except IntegrityError:
        return Annotator.objects.get(voter_key=voter.key)


def client_ip(request: HttpRequest) -> str:
    """The client's address; behind a trusted proxy, the first address of ARENA_CLIENT_IP_HEADER."""
    header = settings.ARENA_CLIENT_IP_HEADER
    forwarded = request.META.get(header, "") if header else ""
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "") or "unknown"
