"""Provider "lexical": offline judges that compare each answer with the prompt's reference answer.

No LLM, no network, no cost. The model name picks the variant:
- "contains": 1 if the normalised reference appears in the normalised answer on token boundaries, else 0;
- "token_f1": SQuAD-style token F1 between answer and reference.
Normalisation (SQuAD convention): lower case, punctuation removed, English articles removed, whitespace
collapsed. The answer scoring higher by more than the variant's margin wins; otherwise it is a tie. The
same verdict is given for every requested dimension, since a lexical score knows only one notion of "better".

The reply text is the JSON an LLM judge is asked for, so judgments take the same parsing path.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from judges.providers.base import BattleContext, CompletionRequest, PermanentProviderError, ProviderResponse

_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True, slots=True)
class _Variant:
    score: Callable[[list[str], list[str]], float]
    margin: float  # the winner must score more than the loser plus this


def normalise_tokens(text: str) -> list[str]:
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text.lower())
    return _ARTICLES.sub(" ", text).split()


def contains_score(answer: list[str], reference: list[str]) -> float:
    # Padding with spaces keeps "4" from matching inside "42".
    return 1.0 if f" {' '.join(reference)} " in f" {' '.join(answer)} " else 0.0


def token_f1_score(answer: list[str], reference: list[str]) -> float:
    if not answer or not reference:
        return float(answer == reference)
    common = sum((Counter(answer) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(answer), common / len(reference)
    return 2 * precision * recall / (precision + recall)


VARIANTS: dict[str, _Variant] = {
    "contains": _Variant(score=contains_score, margin=0.0),
    "token_f1": _Variant(score=token_f1_score, margin=0.05),
}


class LexicalProvider:
    name = "lexical"
    offline = True

    def complete(self, request: CompletionRequest) -> ProviderResponse:
        started = time.monotonic()
        variant = _variant(request.model)
        battle = _battle_with_reference(request)
        reference = normalise_tokens(battle.reference or "")
        score_a = variant.score(normalise_tokens(battle.answer_a), reference)
        score_b = variant.score(normalise_tokens(battle.answer_b), reference)
        label = _label(score_a, score_b, variant.margin)
        rationale = f"{request.model}: A={score_a:.3f}, B={score_b:.3f}, margin {variant.margin:g}"
        text = json.dumps({"verdicts": dict.fromkeys(battle.dimensions, label), "rationale": rationale})
        return ProviderResponse(
            text=text,
            tokens_in=0,
            tokens_out=0,
            latency_s=time.monotonic() - started,
            model=request.model,
            raw={"variant": request.model, "score_a": score_a, "score_b": score_b, "margin": variant.margin},
        )

    def config_errors(self, *, model: str, base_url: str) -> list[str]:
        if model in VARIANTS:
            return []
        return [f"lexical model {model!r} is not a variant; choose one of: {', '.join(sorted(VARIANTS))}"]


def _variant(model: str) -> _Variant:
    try:
        return VARIANTS[model]
    except KeyError:
        raise PermanentProviderError(
            f"lexical judge has no variant {model!r}; set the model to one of: {', '.join(sorted(VARIANTS))}",
            provider="lexical",
        ) from None


def _battle_with_reference(request: CompletionRequest) -> BattleContext:
    battle = request.battle
    if battle is None:
        raise PermanentProviderError(
            "lexical judges read the battle itself and cannot generate answers; "
            "this request carries no battle (use an endpoint provider for generation)",
            provider="lexical",
        )
    if not battle.dimensions:
        raise PermanentProviderError("lexical judge was given no dimensions to judge", provider="lexical")
    if not normalise_tokens(battle.reference or ""):
        raise PermanentProviderError(
            "the prompt has no reference answer (or it is only punctuation/articles); lexical judges need "
            "one: add a reference answer to the prompt or judge this prompt set with an LLM judge",
            provider="lexical",
        )
    return battle


def _label(score_a: float, score_b: float, margin: float) -> str:
    if score_a > score_b + margin:
        return "A"
    if score_b > score_a + margin:
        return "B"
    return "tie"
