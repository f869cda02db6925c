"""Fixtures for judge campaigns: dimensions, a small arena, judge configs, and the loopback stub."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arena.models import Dimension
from judges.services.configs import JudgeConfigData, judge_config_create
from tests.support import factories
from tests.support.openai_stub import MARKER, OpenAIStub

SECRET = "sk-test-Zq81VvXh2Lm4Np7Rt0Wy"  # what a leaked key would look like; must never be stored or shown
KEY_ENV = "ARENA_TEST_JUDGE_KEY"


def ensure_dimensions() -> None:
    """Transactional tests flush the seeded dimensions; put back the ones these tests use."""
    for position, slug in enumerate(("overall", "correctness", "clarity")):
        Dimension.objects.get_or_create(
            slug=slug,
            defaults={
                "name": slug.title(),
                "rubric": f"Which answer is better on {slug}?",
                "position": position,
            },
        )


def make_arena(*, n_prompts: int, slugs=("alpha", "bravo", "charlie"), marked="alpha", set_slug="judge-set"):
    """A prompt set and contenders with outputs; the `marked` contender's answers carry the stub's marker."""
    ensure_dimensions()
    prompt_set = factories.make_prompt_set(set_slug, n_prompts=n_prompts)
    contenders = []
    for slug in slugs:
        contender = factories.make_contender(slug)
        suffix = f" {MARKER}" if slug == marked else ""
        factories.make_outputs(contender, prompt_set, template="{slug} answers question {n}" + suffix)
        contenders.append(contender)
    return prompt_set, contenders


def make_judge(
    slug: str, *, base_url: str = "", provider: str = "openai", model: str = "stub-model", **extra
):
    ensure_dimensions()
    data = JudgeConfigData(
        name=extra.pop("name", slug.replace("-", " ").title()),
        provider=provider,
        model=model,
        base_url=base_url,
        dimensions=extra.pop("dimensions", ["overall"]),
        timeout_seconds=extra.pop("timeout_seconds", 5.0),
        price_input_per_mtok=extra.pop("price_input_per_mtok", Decimal("2.5")),
        price_output_per_mtok=extra.pop("price_output_per_mtok", Decimal("10")),
        **extra,
    )
    return judge_config_create(slug=slug, data=data)


@pytest.fixture
def stub():
    with OpenAIStub(script="prefer-marker") as server:
        yield server


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    return KEY_ENV


def start_campaign(prompt_set, contenders, *judges, **spec):
    """Start a judge campaign without queueing it (the test runs the judgments itself)."""
    from judges.services.campaigns import CampaignSpec, campaign_start

    data = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug, judges=list(judges), **spec
    )
    return campaign_start(spec=data, enqueue=False)


def run_inline(campaign, *, rounds: int = 1) -> list[str]:
    """Run every pending judgment of `campaign` in this process, `rounds` times (retries need more)."""
    from judges.models import Judgment, WorkStatus
    from judges.services.judging import judgment_run

    outcomes = []
    for _ in range(rounds):
        pending = Judgment.objects.filter(campaign=campaign, status=WorkStatus.PENDING).order_by("pk")
        outcomes += [
            judgment_run(judgment_id=pk).outcome for pk in list(pending.values_list("pk", flat=True))
        ]
    return outcomes
