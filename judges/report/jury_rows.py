"""A jury's report-card rows: its combined choice in each answer order, read like a judge's judgments.

A jury makes no calls of its own; what it costs is what its members' calls on the same battle and order
cost (summed), and it answers when its slowest member has (the largest latency).
"""

from __future__ import annotations

from django.db.models import Max, Sum

from arena.models import Dimension, Source
from judges.models import Judgment, Jury, JuryOrderChoice, WorkStatus
from judges.report.card import JudgmentRow, ReportRows
from judges.report.selectors import PEOPLE_KEY, battle_rows, board_rows, ledger_rows, people_votes


def jury_rows(source: Source, dimension: Dimension) -> ReportRows:
    """The rows of the jury whose source this is, on `dimension` (ledger rows alone if it has no jury)."""
    jury = Jury.objects.filter(source=source).prefetch_related("members").first()
    ledger = ledger_rows(source, dimension)
    if jury is None:
        return ledger
    choices = list(
        JuryOrderChoice.objects.filter(jury=jury, dimension=dimension).values_list(
            "battle_id", "order", "choice"
        )
    )
    battle_ids = {battle for battle, _, _ in choices} | {v.battle for v in ledger.verdicts}
    spend = _member_spend(jury, battle_ids)
    judgments = [
        JudgmentRow(battle, order, choice, *spend.get((battle, order), (0.0, None)))
        for battle, order, choice in choices
    ]
    return ReportRows(
        judgments=judgments,
        battles=battle_rows(battle_ids, ""),
        verdicts=ledger.verdicts,
        votes=people_votes(battle_ids, dimension),
        judge_board=board_rows(source.key, dimension),
        people_board=board_rows(PEOPLE_KEY, dimension),
    )


def _member_spend(jury: Jury, battle_ids: set[int]) -> dict[tuple[int, str], tuple[float, int | None]]:
    """(summed cost, largest latency) of the members' current versions' calls per (battle, order)."""
    versions = [m.current_version_id for m in jury.members.all() if m.current_version_id]
    rows = (
        Judgment.objects.filter(
            config_version_id__in=versions,
            battle_id__in=list(battle_ids),
            status__in=[WorkStatus.DONE, WorkStatus.PARSE_FAILED],
        )
        .values("battle_id", "order")
        .annotate(cost=Sum("cost"), latency=Max("latency_ms"))
    )
    return {(r["battle_id"], r["order"]): (float(r["cost"] or 0), r["latency"]) for r in rows}
