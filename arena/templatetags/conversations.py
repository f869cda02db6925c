"""`{% battle_conversation battle as conversation %}`: a battle's turns and replies for `_conversation.html`."""

from __future__ import annotations

from django import template

from arena.conversations import ConversationView
from arena.conversations import battle_conversation as _battle_conversation

register = template.Library()


@register.simple_tag
def battle_conversation(battle) -> ConversationView:
    """Output A on the left, as the battle pages (not the voting page) label their sides."""
    return _battle_conversation(battle)
