"""The judges-vs-people table: each judge's agreement with the people's majority, as stored by a run."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum

from arena.models import Dimension
from leaderboard.models import ALL_CATEGORIES, JudgeAgreement, RecomputeRun


@dataclass(frozen=True)
class AgreementRow:
    source_key: str
    name: str
    compared: int
    agreed: int
    compared_all: int
    agreed_all: int

    @property
    def fraction(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @property
    def fraction_all(self) -> float | None:
        return self.agreed_all / self.compared_all if self.compared_all else None


def agreement_table(
    run: RecomputeRun | None, dimension: Dimension, category: str = ALL_CATEGORIES
) -> list[AgreementRow]:
    """Per judge: agreement with the people's majority on `dimension`, and over all dimensions, on the
    battles of prompts in `category` ("" for all)."""
    if run is None:
        return []
    in_category = JudgeAgreement.objects.filter(run=run, category=category)
    totals = (
        in_category.values("source__key", "source__name")
        .annotate(compared=Sum("n_compared"), agreed=Sum("n_agreed"))
        .order_by("source__name")
    )
    this = {a.source.key: a for a in in_category.filter(dimension=dimension).select_related("source")}
    return [
        AgreementRow(
            t["source__key"],
            t["source__name"],
            this[t["source__key"]].n_compared if t["source__key"] in this else 0,
            this[t["source__key"]].n_agreed if t["source__key"] in this else 0,
            t["compared"],
            t["agreed"],
        )
        for t in totals
    ]
