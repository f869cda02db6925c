"""What one judgment sends: the texts in the order shown, the chat messages, and the reuse key.

Planning (estimates, reuse keys) and judging (the call itself) build requests here, so the key a judgment
is created with always describes exactly the request its worker will send.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from judges.models import JudgeConfigVersion, Judgment
from judges.prompting import render_judge_messages
from judges.providers import BattleContext, CompletionRequest

CHARS_PER_TOKEN = 4  # the estimate's rule of thumb; the endpoint's own counts are what gets billed


@dataclass(frozen=True)
class JudgeTexts:
    """One battle in one order: `answer_a` is whatever the judge sees in position A."""

    question: str
    answer_a: str
    answer_b: str
    reference: str | None

    @classmethod
    def for_order(
        cls, *, order: str, question: str, output_a: str, output_b: str, reference: str, version
    ) -> JudgeTexts:
        first, second = (output_a, output_b) if order == Judgment.Order.SHOWN else (output_b, output_a)
        return cls(
            question=question,
            answer_a=first,
            answer_b=second,
            reference=reference if version.sees_reference and reference.strip() else None,
        )


def judge_messages(version: JudgeConfigVersion, texts: JudgeTexts) -> list[dict[str, str]]:
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
            question=texts.question,
            answer_a=texts.answer_a,
            answer_b=texts.answer_b,
            dimensions=tuple(version.dimension_slugs),
            reference=texts.reference,
        ),
    )


def judge_content_key(version: JudgeConfigVersion, texts: JudgeTexts) -> str:
    """Equal for identical requests: same version content, same texts in the same positions."""
    parts = (version.fingerprint, texts.question, texts.reference or "", texts.answer_a, texts.answer_b)
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))  # length-prefixed: no two splits hash alike
        digest.update(data)
    return digest.hexdigest()


def estimated_input_tokens(version: JudgeConfigVersion, texts: JudgeTexts) -> int:
    chars = sum(len(message["content"]) for message in judge_messages(version, texts))
    return -(-chars // CHARS_PER_TOKEN)
