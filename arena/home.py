"""What the home page shows: what the arena ranks, open voting tasks with their progress, recent activity.

Nothing here names a model next to one of its answers: the home page shows no answers at all, so blind
answers (arena.blindness) stay blind. The leaderboard's top rows come from the leaderboard app's template tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from arena.models import AnnotationTask, Assignment, Contender, Dimension, Prompt, PromptSet
from arena.voting import TaskProgress, task_progress


@dataclass(frozen=True)
class Scope:
    """What this arena ranks: approved contenders, prompts (in categories and sets), dimensions."""

    contenders: int
    prompts: int
    categories: list[str]
    prompt_sets: list[PromptSet]
    dimensions: list[Dimension]


@dataclass(frozen=True)
class OpenTask:
    task: AnnotationTask
    progress: TaskProgress


@dataclass(frozen=True)
class Activity:
    votes_last_day: int
    contenders_recent: list[Contender]


def scope_get() -> Scope:
    categories = (
        Prompt.objects.exclude(category="").order_by().values_list("category", flat=True).distinct()
    )  # order_by(): the model's ordering would make every row distinct
    return Scope(
        contenders=Contender.objects.filter(status=Contender.Status.APPROVED).count(),
        prompts=Prompt.objects.count(),
        categories=sorted(categories),
        prompt_sets=list(PromptSet.objects.annotate(n_prompts=Count("prompts"))),
        dimensions=list(Dimension.objects.filter(is_active=True)),
    )


def tasks_open() -> list[OpenTask]:
    tasks = AnnotationTask.objects.filter(is_active=True).select_related("prompt_set")
    return [OpenTask(task, task_progress(task)) for task in tasks]


def activity_recent(limit: int = 5) -> Activity:
    since = timezone.now() - timedelta(days=1)
    votes = Assignment.objects.filter(state=Assignment.State.VOTED, answered_at__gte=since).count()
    recent = Contender.objects.filter(status=Contender.Status.APPROVED).order_by("-created")[:limit]
    return Activity(votes_last_day=votes, contenders_recent=list(recent))
