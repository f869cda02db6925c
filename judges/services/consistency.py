"""From the two orders of a battle to one verdict per dimension.

The judge saw the battle as shown (output A in position A) and swapped (output B in position A). Its
positional labels are mapped back to the battle's sides; if both orders name the same side (or both say
tie), that is the verdict; otherwise the verdict is a tie flagged `inconsistent`, because a judge that changes
its mind when the answers swap places was swayed by position, not content.

When either order failed or could not be parsed, no final verdict is written for that battle: one order
alone would bring back the position bias the second order cancels. Such battles are counted as failed.

Idempotent: a battle settled twice (both orders finishing at once, or the sweeper catching up) ends with the
same rows, because verdicts and final verdicts are unique per battle, dimension and judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from arena.models import Battle
from arena.services.verdicts import VerdictEntry, verdicts_record
from judges.models import ACTIVE_STATUSES, FinalVerdict, Judgment, WorkStatus
from judges.services.judgment_sql import battle_verdicts_insert, final_verdicts_insert, judgment_pair
from judges.services.runtime import JudgeRuntime, judge_runtime

_SIDE: dict[str, dict[str, str]] = {
    Judgment.Order.SHOWN: {"A": "a", "B": "b", "tie": "tie"},
    Judgment.Order.SWAPPED: {"A": "b", "B": "a", "tie": "tie"},
}


def battle_side(order: str, label: str) -> str:
    """The battle side ("a", "b" or "tie") a positional label given in `order` refers to."""
    return _SIDE[order][label]


def combine_orders(shown_label: str, swapped_label: str) -> tuple[str, bool]:
    """(outcome, inconsistent) from the labels the judge gave in each order."""
    first = battle_side(Judgment.Order.SHOWN, shown_label)
    second = battle_side(Judgment.Order.SWAPPED, swapped_label)
    return (first, False) if first == second else ("tie", True)


# {order: (judgment id, status, verdicts)} for both orders of a battle under one judge version.
Pair = dict[str, tuple[int, str, dict | None]]


@dataclass(frozen=True)
class Settlement:
    verdicts: int  # final verdicts the battle has for this version now (0: not settled)
    waiting: bool  # an order of the battle is still pending or running


def battle_finalize(
    *, battle: Battle, version_id: int, campaign_id: int, pair: Pair | None = None
) -> Settlement:
    """Settle `battle` for one judge version if both orders are done. Only `battle`'s keys (pk, contender
    ids) are used, so a worker can pass one built from the row it already loaded; likewise `pair`, when the
    caller saw both orders in a final state (else they are read here)."""
    if pair is None:
        pair = judgment_pair(battle.pk, version_id)
    statuses = {status for _, status, _ in pair.values()}
    if len(pair) != 2 or statuses != {WorkStatus.DONE}:
        return Settlement(0, waiting=len(pair) != 2 or bool(statuses & set(ACTIVE_STATUSES)))
    runtime = judge_runtime(version_id)
    (shown_id, _, shown), (swapped_id, _, swapped) = pair[Judgment.Order.SHOWN], pair[Judgment.Order.SWAPPED]
    finals = []
    for slug, dimension in runtime.dimensions.items():
        outcome, inconsistent = combine_orders(shown[slug], swapped[slug])
        finals.append(
            FinalVerdict(
                battle_id=battle.pk, dimension=dimension, config_version=runtime.version,
                campaign_id=campaign_id, outcome=outcome, inconsistent=inconsistent, shown_id=shown_id,
                swapped_id=swapped_id,
            )
        )  # fmt: skip
    _settle(battle, runtime, finals)
    return Settlement(len(finals), waiting=False)


def _settle(battle: Battle, runtime: JudgeRuntime, finals: list[FinalVerdict]) -> None:
    """The arena verdicts of every dimension in one ledger call, then the final verdicts that own them. On
    PostgreSQL a battle settled for the first time takes one statement for both (`battle_verdicts_insert`);
    the long way below is for the rest (settled before, an older version's verdict, SQLite)."""
    entries = [
        VerdictEntry(
            battle_id=battle.pk, contender_a_id=battle.contender_a_id, contender_b_id=battle.contender_b_id,
            dimension_id=final.dimension.pk, source_id=runtime.config.source_id, outcome=final.outcome,
            inconsistent=final.inconsistent,
        )
        for final in finals
    ]  # fmt: skip
    if battle_verdicts_insert(entries, finals):
        return
    recorded = verdicts_record(entries)
    kept = [verdict.id for verdict in recorded if not verdict.created]
    # An older version of this config recorded the arena verdict first: it keeps it (and its version).
    owned_elsewhere = (
        set(
            FinalVerdict.objects.filter(verdict_id__in=kept)
            .exclude(config_version=runtime.version)
            .values_list("verdict_id", flat=True)
        )
        if kept
        else set()
    )
    for final, verdict in zip(finals, recorded, strict=True):
        final.verdict_id = None if verdict.id in owned_elsewhere else verdict.id
    # ON CONFLICT DO NOTHING: settling twice (both orders finishing together, a sweep) changes nothing.
    final_verdicts_insert(finals)


def campaign_settle_missing(*, campaign_id: int) -> int:
    """Settle the battles of a campaign whose two orders are done but have no final verdict yet (a worker
    died between its two writes). Returns how many battles it settled."""
    final = FinalVerdict.objects.filter(
        battle_id=OuterRef("battle_id"), config_version_id=OuterRef("config_version_id")
    )
    unsettled = (
        Judgment.objects.filter(campaign_id=campaign_id, status=WorkStatus.DONE, order=Judgment.Order.SHOWN)
        .exclude(Exists(final))
        .select_related("battle")
    )
    settled = 0
    for judgment in unsettled:
        found = battle_finalize(
            battle=judgment.battle, version_id=judgment.config_version_id, campaign_id=campaign_id
        )
        settled += bool(found.verdicts)
    return settled
