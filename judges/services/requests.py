"""What one judgment sends: the texts in the order shown, the chat messages, and the reuse key.

Planning (estimates, reuse keys) and judging (the call itself) build requests here, so the key a judgment
is created with always describes exactly the request its worker will send.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from judges.models import JudgeConfigVersion, Judgment
from judges.prompting import (
    conversation_fingerprint,
    render_judge_conversation_messages,
    render_judge_messages,
)
from judges.providers import BattleContext, CompletionRequest

CHARS_PER_TOKEN = 4  # the estimate's rule of thumb; the endpoint's own counts are what gets billed


@dataclass(frozen=True)
class JudgeTexts:
    """One battle in one order: `answer_a` is whatever the judge sees in position A.

    A multi-turn battle also carries the prompt's `later_turns` and `system` message, and each position's
    replies to the later turns (`later_a`, `later_b`); for a single-turn battle they are empty.
    """

    question: str
    answer_a: str
    answer_b: str
    reference: str | None
    later_turns: tuple[str, ...] = ()
    system: str = ""
    later_a: tuple[str, ...] = ()
    later_b: tuple[str, ...] = ()

    @classmethod
    def for_order(
        cls, *, order: str, question: str, output_a: str, output_b: str, reference: str, version,
        later_turns=(), system: str = "", later_a=(), later_b=(),
    ) -> JudgeTexts:  # fmt: skip
        shown = order == Judgment.Order.SHOWN
        first, second = (output_a, output_b) if shown else (output_b, output_a)
        first_later, second_later = (later_a, later_b) if shown else (later_b, later_a)
        return cls(
            question=question,
            answer_a=first,
            answer_b=second,
            reference=reference if version.sees_reference and reference.strip() else None,
            later_turns=tuple(later_turns),
            system=system if later_turns else "",
            later_a=tuple(first_later) if later_turns else (),
            later_b=tuple(second_later) if later_turns else (),
        )

    @property
    def is_multi_turn(self) -> bool:
        return bool(self.later_turns)

    @property
    def user_turns(self) -> list[str]:
        return [self.question, *self.later_turns]

    @property
    def replies_a(self) -> list[str]:
        return [self.answer_a, *self.later_a]

    @property
    def replies_b(self) -> list[str]:
        return [self.answer_b, *self.later_b]


def judge_messages(version: JudgeConfigVersion, texts: JudgeTexts) -> list[dict[str, str]]:
    if texts.is_multi_turn:
        return render_judge_conversation_messages(
            version.template,
            user_turns=texts.user_turns,
            replies_a=texts.replies_a,
            replies_b=texts.replies_b,
            dimensions=[(slug, rubric) for slug, rubric in version.dimensions],
            system=texts.system,
            reference=texts.reference,
            judge_turns=version.judge_turns,
        )
    return render_judge_messages(
        version.template,
        question=texts.question,
        answer_a=texts.answer_a,
        answer_b=texts.answer_b,
        dimensions=[(slug, rubric) for slug, rubric in version.dimensions],
        reference=texts.reference,
    )


def judge_request(
    version: JudgeConfigVersion, texts: JudgeTexts, *, api_key: str, timeout_s: float
) -> CompletionRequest:
    """The request for the first call; the repair call swaps in `repair_messages`."""
    return CompletionRequest(
        model=version.model,
        messages=judge_messages(version, texts),
        base_url=version.base_url,
        api_key=api_key,
        temperature=version.temperature,
        max_tokens=version.max_tokens,
        timeout_s=timeout_s,
        json_mode=True,
        battle=BattleContext(
            # Offline judges read plain texts: a conversation's turns and each side's replies, joined.
            question="\n\n".join(texts.user_turns),
            answer_a="\n\n".join(texts.replies_a),
            answer_b="\n\n".join(texts.replies_b),
            dimensions=tuple(version.dimension_slugs),
            reference=texts.reference,
        ),
    )


def judge_content_key(version: JudgeConfigVersion, texts: JudgeTexts) -> str:
    """Equal for identical requests: same version content, same texts in the same positions. A multi-turn
    battle's key also covers its later turns, system message, later replies and the multi-turn wording (a
    single-turn battle's key is what it always was)."""
    parts: tuple[str, ...] = (
        version.fingerprint, texts.question, texts.reference or "", texts.answer_a, texts.answer_b,
    )  # fmt: skip
    if texts.is_multi_turn:
        conversation = (conversation_fingerprint(version.template, version.judge_turns), texts.system)
        parts += conversation + (*texts.later_turns, "\x01", *texts.later_a, "\x01", *texts.later_b)
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))  # length-prefixed: no two splits hash alike
        digest.update(data)
    return digest.hexdigest()


def estimated_input_tokens(version: JudgeConfigVersion, texts: JudgeTexts) -> int:
    chars = sum(len(message["content"]) for message in judge_messages(version, texts))
    return -(-chars // CHARS_PER_TOKEN)
