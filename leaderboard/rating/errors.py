"""Exceptions raised by the rating core.

All of them are ``ValueError`` subclasses: they describe data (or parameters) that a fit cannot honestly
turn into ratings, never a programming error. Messages say what was wrong and what the caller can do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Diagnostics


class RatingError(ValueError):
    """The data or the parameters given to a rating fit are unusable."""


class DisconnectedGraphError(RatingError):
    """The comparison graph has several components, so ratings across them are not comparable.

    ``diagnostics.components`` lists the components as model names.
    """

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        listed = "; ".join(", ".join(component) for component in diagnostics.components)
        super().__init__(
            f"the comparison graph is disconnected into {len(diagnostics.components)} groups that never "
            f"met: {listed}. Add battles between the groups, or fit each group separately "
            f"(per_component=True / --per-component)."
        )


class NoMaximumLikelihoodError(RatingError):
    """Bradley–Terry has no finite maximum-likelihood estimate and regularisation was not allowed.

    Happens when some group of contenders never lost (or never won) against everyone else,
    for instance a single contender with only wins.
    """

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        details = []
        if diagnostics.never_lost:
            details.append(f"never lost: {', '.join(diagnostics.never_lost)}")
        if diagnostics.never_won:
            details.append(f"never won: {', '.join(diagnostics.never_won)}")
        reason = "; ".join(details) or "a group of contenders never lost to the rest"
        super().__init__(
            f"the Bradley–Terry maximum-likelihood estimate is infinite ({reason}). "
            f"Collect more battles, or allow the documented fallback regulariser."
        )
