"""Small factories for test data: plain functions, explicit arguments."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from arena.models import Contender, Output, Prompt, PromptSet
from arena.services.style import style_counts

PASSWORD = "a-long-test-password-1"


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def make_prompt_set(slug: str, *, n_prompts: int = 3, category: str = "general") -> PromptSet:
    prompt_set = PromptSet.objects.create(slug=slug, name=slug.replace("-", " ").title())
    for i in range(1, n_prompts + 1):
        Prompt.objects.create(
            prompt_set=prompt_set,
            external_id=f"p{i}",
            text=f"Question number {i}?",
            category=category,
            reference_answer=f"answer {i}",
        )
    return prompt_set


def make_contender(slug: str, *, status: str = Contender.Status.APPROVED, user=None, **extra) -> Contender:
    return Contender.objects.create(
        slug=slug, name=extra.pop("name", slug.title()), status=status, submitted_by=user, **extra
    )


def make_outputs(
    contender: Contender, prompt_set: PromptSet, *, template: str = "{slug} says {n}"
) -> list[Output]:
    outputs = []
    for n, prompt in enumerate(prompt_set.prompts.order_by("id"), start=1):
        text = template.format(slug=contender.slug, n=n)
        outputs.append(
            Output.objects.create(contender=contender, prompt=prompt, text=text, **style_counts(text))
        )
    return outputs
