"""The moderation hook: every message sent to a live battle is checked, and the check is recorded.

ARENA_LIVE_MODERATION names a function `hook(text, *, voter_key) -> Decision`. The default allows
everything; a deployment points the setting at its own function (a word list, a classifier, a moderation
endpoint). Whatever it decides is kept in `ModerationRecord`, refusals included, so staff can review both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from arena.errors import Invalid
from live.models import ModerationRecord


@dataclass(frozen=True)
class Decision:
    """`reason` is shown to the person when the message is refused: say what to change."""

    allowed: bool
    reason: str = ""


Hook = Callable[..., Decision]


def allow_all(text: str, *, voter_key: str) -> Decision:
    """The default hook: refuses nothing (every message is still recorded)."""
    return Decision(allowed=True)


@lru_cache(maxsize=4)
def _load(path: str) -> Hook:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"ARENA_LIVE_MODERATION={path!r} cannot be imported ({exc}); give the dotted path of a function "
            "(text, *, voter_key) -> live.moderation.Decision, e.g. live.moderation.allow_all."
        ) from None


def message_moderate(*, text: str, voter_key: str) -> None:
    """Record the hook's decision on `text`; raise `Invalid` when it refuses. Call outside any
    transaction that a refusal would roll back: the record of a refused message must stay."""
    path = settings.ARENA_LIVE_MODERATION
    decision = _load(path)(text, voter_key=voter_key)
    ModerationRecord.objects.create(
        voter_key=voter_key, text=text, allowed=decision.allowed, reason=decision.reason[:300], hook=path
    )
    if not decision.allowed:
        reason = decision.reason.strip() or "it breaks this arena's rules"
        raise Invalid(
            f"This message was refused by the arena's moderation: {reason}. Rephrase it and send it again.",
            field="prompt",
        )
