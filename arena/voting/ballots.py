"""What an annotator can press, and how a press in displayed sides maps to the battle's own A/B."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from arena.errors import Invalid
from arena.models.verdicts import Outcome
from arena.models.voting import displayed_choice  # noqa: F401  (re-exported: the page's sides)

# Displayed terms: the answer shown on the left ("A" on the page) or on the right ("B" on the page).
CHOICES = {"left": "A is better", "right": "B is better", "tie": "Tie", "both_bad": "Both are bad"}
DIMENSION_FIELD_PREFIX = "dim-"


@dataclass(frozen=True)
class Ballot:
    """A vote as posted, in displayed sides; `dimensions` maps optional dimension slugs to choices."""

    overall: str
    dimensions: dict[str, str] = field(default_factory=dict)


def _choice(value: str, where: str) -> str:
    if value not in CHOICES:
        raise Invalid(f"Unknown choice {value!r} for {where}: use one of {', '.join(CHOICES)}.", field=where)
    return value


def ballot_from_post(data: Mapping[str, str]) -> Ballot:
    """Read `overall` and `dim-<slug>` fields; refuse a missing overall or an unknown choice (400)."""
    overall = (data.get("overall") or "").strip()
    if not overall:
        raise Invalid(
            "Choose the overall verdict (A is better, B is better, Tie or Both are bad) to vote.",
            field="overall",
        )
    dimensions = {
        key.removeprefix(DIMENSION_FIELD_PREFIX): _choice(value, key)
        for key, value in data.items()
        if key.startswith(DIMENSION_FIELD_PREFIX) and value
    }
    return Ballot(overall=_choice(overall, "overall"), dimensions=dimensions)


def battle_outcome(choice: str, *, left_is_a: bool) -> str:
    """A displayed choice in the battle's own A/B terms."""
    if choice == "left":
        return Outcome.A if left_is_a else Outcome.B
    if choice == "right":
        return Outcome.B if left_is_a else Outcome.A
    return choice
