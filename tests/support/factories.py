"""Small factories for test data: plain functions, explicit arguments."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from unittest import mock

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


# --- human voting (arena.voting) -----------------------------------------------------------------------


def make_voting_task(
    prompt_set: PromptSet,
    contenders: list[Contender] | None = None,
    *,
    slug: str = "people",
    votes_per_battle: int = 2,
    gold_rate: float = 0.0,
    guidelines: str = "Prefer **correct** answers.",
    **extra,
):
    from arena.voting.staff import task_create

    return task_create(
        slug=slug, name=slug.title(), prompt_set=prompt_set, contenders=contenders or [], votes_per_battle=votes_per_battle,
        gold_rate=gold_rate, guidelines=guidelines, **extra,
    )  # fmt: skip


def make_voting_arena(
    *,
    n_contenders: int = 3,
    n_prompts: int = 3,
    slug: str = "vote-set",
    prefix: str = "model",
    task_slug: str = "people",
    **task_options,
):
    """A prompt set, approved contenders with an answer to every prompt, and an open voting task on them."""
    prompt_set = make_prompt_set(slug, n_prompts=n_prompts)
    contenders = [
        make_contender(f"{prefix}-{i}", name=f"{prefix.title()} Number {i}")
        for i in range(1, n_contenders + 1)
    ]
    for contender in contenders:
        make_outputs(contender, prompt_set, template="Answer {n} from a model, in plain words.")
    return make_voting_task(prompt_set, contenders, slug=task_slug, **task_options), contenders


def make_all_battles(task) -> None:
    """Every battle of the task's prompt set, as in an arena that has run a while (a first serve creates its
    battle otherwise)."""
    from itertools import combinations

    from arena.services.battles import battle_get_or_create

    outputs = Output.objects.filter(prompt__prompt_set=task.prompt_set).order_by("prompt_id", "contender_id")
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    for answers in by_prompt.values():
        for a, b in combinations(answers, 2):
            battle_get_or_create(output_a=a, output_b=b)


def voter_of(user):
    from arena.voting.identity import Voter

    return Voter(key=f"u:{user.pk}", user=user)


def serve_to(task, user):
    """Serve the user's next battle in `task` (an Assignment, or None when none is left)."""
    from arena.voting.identity import annotator_for
    from arena.voting.serving import assignment_serve

    return assignment_serve(task=task, annotator=annotator_for(voter_of(user)))


def fresh_rate_limits(settings, **limits) -> None:
    """Give a test its own rate-limit counters (and optionally other limits), so earlier runs do not leak in."""
    import uuid

    settings.ARENA_VOTE_RATE_NAMESPACE = f"rl-test-{uuid.uuid4().hex}"
    settings.ARENA_VOTE_RATE_PER_MINUTE = limits.get("per_voter", 10_000)
    settings.ARENA_VOTE_RATE_PER_MINUTE_IP = limits.get("per_ip", 10_000)


@contextlib.contextmanager
def frozen_rate_window(settings, scope: str) -> Iterator[list[str]]:
    """Fresh rate-limit counters (3 per voter, 100 per address) and the clock held at one instant, so no
    window boundary falls mid-test: yields the counter keys of voter `u:7` and address 203.0.113.9 for
    `scope` ("vote" or "serve")."""
    from arena.voting.ratelimit import WINDOW_SECONDS

    fresh_rate_limits(settings, per_voter=3, per_ip=100)
    now = time.time()
    with mock.patch("arena.voting.ratelimit.time") as clock:
        clock.time.return_value = now
        prefix = f"{settings.ARENA_VOTE_RATE_NAMESPACE}:{scope}:{int(now // WINDOW_SECONDS)}"
        yield [f"{prefix}:v:u:7", f"{prefix}:ip:203.0.113.9"]


def make_annotator_user(username: str, **extra):
    """A user without a usable password: fast to create (no password hashing) for service and client tests."""
    return get_user_model().objects.create_user(username=username, password=None, **extra)


def ensure_dimensions() -> None:
    """Re-seed the standard dimensions: a transactional test's flush deletes the rows the migration seeded."""
    from importlib import import_module

    from arena.models import Dimension

    seeded = import_module("arena.migrations.0002_seed_dimensions").DIMENSIONS
    for position, (slug, name, rubric) in enumerate(seeded):
        Dimension.objects.get_or_create(
            slug=slug, defaults={"name": name, "rubric": rubric, "position": position}
        )
