"""A live battle's vote: it becomes arena data like any other battle, then the names are revealed.

On the vote, in one transaction: the conversation becomes a prompt of the live prompt set (category "live";
the person's first message is its text, the follow-ups its later turns), each side's replies an output, the
two a battle, and the ballot the people's verdicts on it, through the arena's verdict service. From there it
reaches the leaderboard with the next recompute and can be judged by LLM judges like any battle.

Stored but not counted (verdicts marked excluded): an answer named its model (identity leak), a side is the
voter's own or their organization's contender, or the account lacks what the voting settings ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from arena.errors import Conflict, Invalid, Unavailable
from arena.models import Battle, Dimension, Output, Prompt, PromptSet, Verdict
from arena.models.voting import displayed_choice
from arena.services.battles import battle_get_or_create, people_source
from arena.services.outputs import output_build
from arena.services.verdicts import verdict_record
from arena.voting import (
    CHOICES,
    Ballot,
    Voter,
    account_unproven,
    annotator_for,
    battle_outcome,
    contenders_conflicting,
)
from live.models import LiveBattle
from live.services.battles import live_battle_of

State = LiveBattle.State
LIVE_CATEGORY = "live"


def live_prompt_set() -> PromptSet:
    """The arena's live prompt set, created with people's vote dimensions on first use."""
    prompt_set, created = PromptSet.objects.get_or_create(
        slug=settings.ARENA_LIVE_PROMPT_SET,
        defaults={
            "name": "Live battles",
            "description": "Prompts people typed in live battles, with the two answers they voted on.",
        },
    )
    if created:
        prompt_set.vote_dimensions.set(Dimension.objects.filter(is_active=True).exclude(slug="overall"))
    return prompt_set


def live_dimensions() -> list[Dimension]:
    """The optional dimensions a live vote offers (overall is always asked)."""
    prompt_set = PromptSet.objects.filter(slug=settings.ARENA_LIVE_PROMPT_SET).first()
    rows = (
        prompt_set.vote_dimensions.filter(is_active=True)
        if prompt_set
        else Dimension.objects.filter(is_active=True)
    )
    return list(rows.exclude(slug="overall").order_by("position"))


def _output(contender, prompt: Prompt, replies: list[str], leak: str) -> Output:
    # Every reply, so style counts and the identity-leak check read the whole conversation.
    output = output_build(contender=contender, prompt=prompt, text=replies[0], later_replies=replies[1:])
    output.identity_leak = output.identity_leak or leak[:200]
    output.save()
    return output


def _battle_store(live: LiveBattle) -> Battle:
    prompt = Prompt.objects.create(
        prompt_set=live_prompt_set(), external_id=f"live-{live.pk}", text=live.turns[0],
        later_turns=live.turns[1:], category=LIVE_CATEGORY,
    )  # fmt: skip
    output_a = _output(live.contender_a, prompt, live.replies_a, live.identity_leak)
    output_b = _output(live.contender_b, prompt, live.replies_b, live.identity_leak)
    return battle_get_or_create(output_a=output_a, output_b=output_b)[0]


def _dimensions(ballot: Ballot) -> list[Dimension]:
    offered = {d.slug: d for d in live_dimensions()}
    unknown = sorted(slug for slug in ballot.dimensions if slug not in offered)
    if unknown:
        raise Invalid(
            f"A live battle asks for no dimension {', '.join(unknown)}: vote only on the rows shown.",
            field="dimension",
        )
    overall = Dimension.objects.filter(slug="overall").first()
    if overall is None:
        raise Unavailable("The 'overall' dimension is missing: staff must restore it.")
    return [overall, *(offered[slug] for slug in sorted(ballot.dimensions))]


def _not_counted(live: LiveBattle, voter: Voter) -> bool:
    own = contenders_conflicting(annotator_for(voter)).filter(
        pk__in=[live.contender_a_id, live.contender_b_id]
    )
    return bool(live.identity_leak) or own.exists() or account_unproven(voter.user)


@dataclass(frozen=True)
class Reveal:
    left_name: str
    right_name: str
    choice_label: str
    counted: bool


def reveal_of(live: LiveBattle, overall_choice: str, counted: bool) -> Reveal:
    a, b = live.contender_a.name, live.contender_b.name
    left, right = (a, b) if live.left_is_a else (b, a)
    return Reveal(left_name=left, right_name=right, choice_label=CHOICES[overall_choice], counted=counted)


def live_reveal(live: LiveBattle) -> Reveal:
    """The reveal of a stored vote (a reload of the page, a replayed vote): the names, the overall choice in
    displayed sides, and whether it counts."""
    verdict = (
        Verdict.objects.filter(battle=live.battle, dimension__slug="overall", voter_key=live.voter_key)
        .values("outcome", "excluded")
        .first()
    ) or {"outcome": "tie", "excluded": True}
    outcome = str(verdict["outcome"] or "tie")
    return reveal_of(live, displayed_choice(outcome, left_is_a=live.left_is_a), not verdict["excluded"])


def live_vote_record(*, token: str, voter: Voter, ballot: Ballot) -> Reveal:
    """Store the vote once (a replay reveals the stored one); 409 unless both answers are complete."""
    with transaction.atomic():
        found = live_battle_of(token=token, voter=voter)
        live = (
            LiveBattle.objects.select_for_update()
            .select_related("contender_a", "contender_b")
            .get(pk=found.pk)
        )
        if live.state == State.VOTED:
            return live_reveal(live)
        if live.state != State.READY:
            raise Conflict(_not_ready_message(live))
        dimensions = _dimensions(ballot)
        battle = _battle_store(live)
        choices = {"overall": ballot.overall, **ballot.dimensions}
        source, excluded = people_source(), _not_counted(live, voter)
        for dimension in dimensions:
            outcome = battle_outcome(choices[dimension.slug], left_is_a=live.left_is_a)
            verdict_record(
                battle=battle, dimension=dimension, source=source, outcome=outcome,
                user=voter.user, voter_key=voter.key, excluded=excluded,
            )  # fmt: skip
        LiveBattle.objects.filter(pk=live.pk).update(state=State.VOTED, battle=battle)
    return reveal_of(live, ballot.overall, counted=not excluded)


def _not_ready_message(live: LiveBattle) -> str:
    if live.state == State.FAILED:
        return "A model failed to answer, so this battle cannot be voted on and does not count. Start a new round."
    if live.state == State.CANCELLED:
        return (
            "This battle was stopped before both answers finished, so it does not count. Start a new round."
        )
    return "Wait for both answers to finish, then vote."
