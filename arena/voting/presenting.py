"""What the vote pages show: the reveal after a vote and the annotator's progress, shaped for templates."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from arena.rendering import render_markdown
from arena.voting.ballots import CHOICES
from arena.voting.stats import Progress, TaskProgress
from arena.voting.vote_store import LockedVote, dimension_names


@dataclass(frozen=True)
class Reveal:
    """The two model names, shown only after the vote, and what the annotator chose (displayed sides)."""

    left_name: str
    right_name: str
    choice: str
    choice_label: str
    dimensions: list[tuple[str, str]]


def reveal_for(vote: LockedVote, names: dict[str, str] | None = None) -> Reveal:
    """Built from the stored vote alone, so a replayed vote gets exactly the first response. `names`: slug →
    name of the optional rows voted on, when the caller has them (else one statement reads them)."""
    choice = vote.displayed(vote.outcome)
    dimensions = []
    if vote.dimension_outcomes:
        if names is None or not set(vote.dimension_outcomes) <= set(names):
            names = dimension_names(vote.dimension_outcomes)
        for slug, outcome in sorted(vote.dimension_outcomes.items()):
            dimensions.append((names.get(slug, slug), CHOICES[vote.displayed(outcome)]))
    return Reveal(vote.left_name, vote.right_name, choice, CHOICES[choice], dimensions)


def progress_context(progress: Progress, task_progress: TaskProgress) -> dict:
    """The annotator's counters and the task's progress toward its goal (the page header and its updates)."""
    rate = progress.agreement.rate
    return {
        "progress": progress,
        "agreement_pct": None if rate is None else round(100 * rate),
        # Spelled out here rather than with |pluralize in the template, so the served fragment's pieces
        # (arena.voting.battle_fragment) hold no filter applied to a value.
        "compared_noun": "battle" if progress.agreement.compared == 1 else "battles",
        "task_progress": task_progress,
        "undo_seconds": settings.ARENA_VOTE_UNDO_SECONDS,
    }


def guidelines_html(text: str) -> str:
    return render_markdown(
        text or "Pick the answer you would rather receive. Judge content first, style second."
    )
