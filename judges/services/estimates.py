"""What a judge campaign will cost before it starts: calls, tokens and dollars.

Input tokens are estimated from the characters of the exact messages each call will send, divided by 4;
output tokens are counted as each judge's `max_tokens`, so the cost is an upper bound (repairs, which only
follow unparseable replies, are not included). Judgments that already exist (done, or in progress in
another campaign) are not counted, and neither are those the reuse cache will answer for free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from arena.errors import Invalid
from judges.models import JudgeConfigVersion, Judgment, WorkStatus
from judges.providers import get_provider
from judges.services.planning import PlannedBattle
from judges.services.requests import JudgeTexts, estimated_input_tokens, judge_content_key

_MILLION = Decimal(1_000_000)
_REDO = (WorkStatus.FAILED, WorkStatus.CANCELLED)


@dataclass(frozen=True)
class PlannedJudgment:
    battle_index: int
    battle_id: int | None
    version: JudgeConfigVersion
    order: str
    content_key: str
    tokens_in: int


@dataclass
class Estimate:
    """`calls` need the endpoint; `reused` are answered from stored identical requests at no cost."""

    judgments: int = 0
    already_judged: int = 0
    reused: int = 0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    by_judge: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "judgments": self.judgments,
            "already_judged": self.already_judged,
            "reused": self.reused,
            "calls": self.calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": float(self.cost),
            "by_judge": self.by_judge,
        }


def judgments_expand(
    battles: list[PlannedBattle], versions: list[JudgeConfigVersion]
) -> list[PlannedJudgment]:
    """Every battle × judge version × order, with its reuse key and estimated input tokens."""
    offline = {v.pk: get_provider(v.provider).offline for v in versions}
    planned = []
    for index, battle in enumerate(battles):
        prompt = battle.output_a.prompt
        _check_replies(battle, prompt)
        for version in versions:
            for order in (Judgment.Order.SHOWN, Judgment.Order.SWAPPED):
                texts = JudgeTexts.for_order(
                    order=order, question=prompt.text, output_a=battle.output_a.text,
                    output_b=battle.output_b.text, reference=prompt.reference_answer, version=version,
                    later_turns=prompt.later_turns, system=prompt.system_message,
                    later_a=battle.output_a.later_replies, later_b=battle.output_b.later_replies,
                )  # fmt: skip
                tokens = 0 if offline[version.pk] else estimated_input_tokens(version, texts)
                key = judge_content_key(version, texts)
                planned.append(PlannedJudgment(index, battle.battle_id, version, order, key, tokens))
    return planned


def _check_replies(battle: PlannedBattle, prompt) -> None:
    """Refuse, before anything is queued, a battle whose answers do not have one reply per user turn."""
    for output in (battle.output_a, battle.output_b):
        if len(output.replies) != len(prompt.user_turns):
            raise Invalid(
                f"The output of contender {output.contender.slug!r} for prompt {prompt.external_id!r} has "
                f"{len(output.replies)} replies for {len(prompt.user_turns)} user turns, so its battles cannot "
                "be judged; replace the output (delete it and upload it again) first.",
                field="contenders",
            )


def judgments_estimate(planned: list[PlannedJudgment]) -> Estimate:
    settled = _settled_elsewhere(planned)
    todo = [p for p in planned if (p.battle_id, p.version.pk, p.order) not in settled]
    cached = _cached_keys([p.content_key for p in todo])
    estimate = Estimate(judgments=len(todo), already_judged=len(planned) - len(todo))
    for item in todo:
        if item.content_key in cached:
            estimate.reused += 1
            continue
        _add_call(estimate, item)
    return estimate


def _add_call(estimate: Estimate, item: PlannedJudgment) -> None:
    version, config = item.version, item.version.config
    offline = get_provider(version.provider).offline
    tokens_out = 0 if offline else version.max_tokens
    cost = (
        item.tokens_in * config.price_input_per_mtok + tokens_out * config.price_output_per_mtok
    ) / _MILLION
    estimate.calls += 1
    estimate.tokens_in += item.tokens_in
    estimate.tokens_out += tokens_out
    estimate.cost += cost
    per = estimate.by_judge.setdefault(config.slug, {"version": version.number, "calls": 0, "cost_usd": 0.0})
    per["calls"] += 1
    per["cost_usd"] = round(per["cost_usd"] + float(cost), 6)


def _settled_elsewhere(planned: list[PlannedJudgment]) -> set[tuple[int | None, int, str]]:
    battle_ids = {p.battle_id for p in planned if p.battle_id is not None}
    if not battle_ids:
        return set()
    versions = {p.version.pk for p in planned}
    rows = Judgment.objects.filter(battle_id__in=battle_ids, config_version_id__in=versions).exclude(
        status__in=_REDO
    )
    return set(rows.values_list("battle_id", "config_version_id", "order"))


def _cached_keys(keys: list[str]) -> set[str]:
    if not keys:
        return set()
    done = Judgment.objects.filter(content_key__in=set(keys), status=WorkStatus.DONE)
    return set(done.values_list("content_key", flat=True).distinct())
