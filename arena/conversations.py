"""A battle's conversation shaped for the page: the prompt's turns beside both sides' replies, rendered.

One shape for every page that shows answers (voting, battle pages, contender pages, judge reports, live
battles), drawn by the one partial `templates/_conversation.html`. A single-turn battle is the one-turn case.
Every text goes through `arena.rendering` (sanitised Markdown); nothing here decides who may see what or
whether names are shown: that stays with the caller (`arena.blindness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

from django.utils.safestring import SafeString

from arena.rendering import render_markdown


@dataclass(frozen=True)
class TurnView:
    """One user turn and the two replies to it. A reply's HTML is "" where that side has none (a live battle
    whose side failed, or is still streaming)."""

    number: int
    user_html: SafeString
    left_html: SafeString
    right_html: SafeString


@dataclass(frozen=True)
class ConversationView:
    system_html: SafeString  # "" when the prompt has no system message
    turns: list[TurnView]

    @property
    def is_multi_turn(self) -> bool:
        return len(self.turns) > 1


def conversation_view(
    *, user_turns: Sequence[str], left_replies: Sequence[str], right_replies: Sequence[str], system: str = ""
) -> ConversationView:
    """Rendered turns in order; turns come from the prompt, so replies beyond them are not shown."""
    turns = [
        TurnView(number, render_markdown(user), render_markdown(left or ""), render_markdown(right or ""))
        for number, (user, left, right) in enumerate(
            zip_longest(user_turns, left_replies[: len(user_turns)], right_replies[: len(user_turns)]),
            start=1,
        )
    ]
    return ConversationView(system_html=render_markdown(system), turns=turns)


def battle_conversation(battle, *, left_is_a: bool = True) -> ConversationView:
    """The battle's conversation with output A on the left, or B when `left_is_a` is False (voting draws
    sides at random)."""
    left, right = (battle.output_a, battle.output_b) if left_is_a else (battle.output_b, battle.output_a)
    prompt = battle.prompt
    return conversation_view(
        user_turns=prompt.user_turns,
        left_replies=left.replies,
        right_replies=right.replies,
        system=prompt.system_message,
    )
