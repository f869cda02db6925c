"""Small real-shaped multi-turn data (MT-Bench `question.jsonl` and `model_answer/*.jsonl`, two turns each),
imported through the same services as uploads, for the conversation tests."""

from __future__ import annotations

from pathlib import Path

from arena.models import Contender, PromptSet
from arena.services.outputs import outputs_import
from arena.services.prompts import prompts_import
from tests.support import factories

DATA = Path(__file__).resolve().parents[1] / "arena" / "data" / "conversations"
QUESTIONS = DATA / "question.jsonl"
MODELS = ("alpha-7b", "beta-13b")


def answers_file(model: str) -> Path:
    return DATA / "model_answer" / f"{model}.jsonl"


def import_mt_bench(
    slug: str = "mt-mini", *, models: tuple[str, ...] = MODELS
) -> tuple[PromptSet, list[Contender]]:
    """The two-turn prompt set and one approved contender per model, with its answers."""
    prompt_set = prompts_import(
        prompt_set_slug=slug, data=QUESTIONS.read_bytes(), filename=QUESTIONS.name
    ).prompt_set
    contenders = []
    for model in models:
        contender = factories.make_contender(model)
        path = answers_file(model)
        outputs_import(contender=contender, prompt_set=prompt_set, data=path.read_bytes(), filename=path.name)
        contenders.append(contender)
    return prompt_set, contenders
