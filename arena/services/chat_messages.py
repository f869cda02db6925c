"""OpenAI-style `messages` lists in uploaded files: read and checked into a system message, user turns and
assistant replies.

The shape the arena accepts (see docs/conversations.md):
- an optional `system` message, first and only once;
- then user turns; in an *outputs* file each user turn is followed by the assistant's reply, strictly
  alternating and ending with a reply; in a *prompts* file there are user turns only (the replies are what
  contenders are compared on, so a prompt cannot carry one);
- `content` is a string, or a list of `{"type": "text", "text": ...}` parts, which are joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.errors import Invalid
from arena.services.upload_reading import text_value

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Transcript:
    system: str
    user_turns: tuple[str, ...]
    replies: tuple[str, ...]


def messages_read(record: dict[str, Any], *, filename: str, where: str, with_replies: bool) -> Transcript:
    """Field `messages` of `record` as a Transcript, or an `Invalid` naming the message that is wrong."""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        got = (
            "missing" if messages is None else "an empty list" if messages == [] else type(messages).__name__
        )
        raise Invalid(
            f'{filename}, {where}: field \'messages\' must be a list of {{"role", "content"}} objects, got {got}.',
            field="messages",
        )
    roles_contents = [_message(item, n, filename=filename, where=where) for n, item in enumerate(messages, 1)]
    system = ""
    if roles_contents[0][0] == "system":
        system = roles_contents.pop(0)[1]
    expected = ("user", "assistant") if with_replies else ("user",)
    for offset, (role, content) in enumerate(roles_contents):
        number = offset + (2 if system else 1)
        wanted = expected[offset % len(expected)]
        if role != wanted:
            raise Invalid(f"{filename}, {where}: {_order_problem(number, role, wanted, with_replies)}")
        if not content.strip():
            raise Invalid(f"{filename}, {where}: message {number} ({role}) is empty.", field="messages")
    if not roles_contents:
        raise Invalid(f"{filename}, {where}: 'messages' holds a system message only; add the user turns.")
    if with_replies and roles_contents[-1][0] != "assistant":
        raise Invalid(
            f"{filename}, {where}: the last message is a user turn without the assistant's reply; an outputs "
            "file gives the whole conversation, ending with the assistant's last reply.",
            field="messages",
        )
    return Transcript(
        system=system,
        user_turns=tuple(c for r, c in roles_contents if r == "user"),
        replies=tuple(c for r, c in roles_contents if r == "assistant"),
    )


def _order_problem(number: int, role: str, wanted: str, with_replies: bool) -> str:
    if role == "system":
        return f"message {number} is a system message; only the first message may be one."
    if not with_replies:
        return (
            f"message {number} is an assistant message; a prompts file gives the user turns only (the "
            "models' replies are what is compared: upload them as outputs)."
        )
    wanted_text = "the assistant's reply" if wanted == "assistant" else "a user turn"
    return (
        f"message {number} should be {wanted_text} but is a {role} message; after the optional system "
        "message, user and assistant messages must alternate, starting with a user turn."
    )


def _message(item: Any, number: int, *, filename: str, where: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise Invalid(f"{filename}, {where}: message {number} must be an object, got {type(item).__name__}.")
    role = item.get("role")
    if role not in ROLES:
        raise Invalid(
            f"{filename}, {where}: message {number} has role {role!r}; use one of {', '.join(ROLES)}.",
            field="messages",
        )
    return role, _content(item.get("content"), number, filename=filename, where=where)


def _content(value: Any, number: int, *, filename: str, where: str) -> str:
    what = f"the content of message {number}"
    if isinstance(value, list):  # the parts form: [{"type": "text", "text": "..."}, ...]
        texts = []
        for part in value:
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise Invalid(
                    f"{filename}, {where}: {what} has a part that is not text; only text parts can be stored."
                )
            texts.append(text_value(part.get("text"), filename=filename, where=where, what=what))
        return "".join(texts)
    return text_value(value, filename=filename, where=where, what=what)
