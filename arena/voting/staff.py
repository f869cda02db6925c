"""Staff actions on human voting: open tasks, add gold battles, exclude an annotator's votes, review them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from arena.errors import Invalid
from arena.models import (
    AnnotationTask,
    Annotator,
    Assignment,
    Battle,
    Contender,
    GoldBattle,
    PromptSet,
    Verdict,
    VoteFlag,
)
from arena.models.verdicts import Outcome
from arena.services.battles import people_source
from arena.voting.stats import Agreement, agreement_of, overall_votes, pairwise_agreement


def task_create(
    *,
    slug: str,
    name: str,
    prompt_set: PromptSet,
    contenders: Iterable[Contender] = (),
    votes_per_battle: int = 3,
    guidelines: str = "",
    gold_rate: float = 0.1,
    inconsistent_first: bool = False,
    created_by=None,
) -> AnnotationTask:
    if votes_per_battle < 2:
        raise Invalid(
            "votes_per_battle must be at least 2, so agreement between people can be measured.",
            field="votes_per_battle",
        )
    if not 0.0 <= gold_rate <= 1.0:
        raise Invalid(f"gold_rate must be between 0 and 1, got {gold_rate}.", field="gold_rate")
    with transaction.atomic():
        task = AnnotationTask.objects.create(
            slug=slug, name=name, prompt_set=prompt_set, votes_per_battle=votes_per_battle, guidelines=guidelines,
            gold_rate=gold_rate, inconsistent_first=inconsistent_first, created_by=created_by,
        )  # fmt: skip
        task.contenders.set(contenders)
    return task


def gold_add(*, task: AnnotationTask, battle: Battle, expected: str, explanation: str = "") -> GoldBattle:
    """Mark a battle of the task's prompt set as an attention check with a known answer (A/B battle terms)."""
    if expected not in Outcome.values:
        raise Invalid(
            f"Unknown expected outcome {expected!r}: use one of {', '.join(Outcome.values)}.",
            field="expected",
        )
    if battle.prompt.prompt_set_id != task.prompt_set_id:
        raise Invalid(f"Battle {battle.pk} is not on the prompt set of task {task.slug!r}.", field="battle")
    gold, _ = GoldBattle.objects.update_or_create(
        task=task, battle=battle, defaults={"expected": expected, "explanation": explanation}
    )
    return gold


def annotator_set_excluded(*, annotator: Annotator, excluded: bool, by=None, reason: str = "") -> bool:
    """Exclude (or restore) all of an annotator's votes from ratings, including votes they cast later.

    Returns whether anything changed. Verdicts are kept either way, for audit.
    """
    with transaction.atomic():
        locked = Annotator.objects.select_for_update().get(pk=annotator.pk)
        if locked.excluded == excluded:
            return False
        locked.excluded, locked.excluded_reason = excluded, reason if excluded else ""
        locked.excluded_at, locked.excluded_by = (timezone.now(), by) if excluded else (None, None)
        locked.save(update_fields=["excluded", "excluded_reason", "excluded_at", "excluded_by"])
        Verdict.objects.filter(source=people_source(), voter_key=locked.voter_key).update(excluded=excluded)
    annotator.refresh_from_db()
    return True


def assignments_exclude_votes(assignments: Iterable[Assignment]) -> int:
    """Exclude the verdicts of these votes (e.g. flagged ones) from ratings; returns how many verdicts changed."""
    changed = 0
    source = people_source()
    for a in assignments:
        rows = Verdict.objects.filter(
            source=source, battle_id=a.battle_id, voter_key=a.annotator.voter_key, excluded=False
        )
        changed += rows.update(excluded=True)
    return changed


@dataclass(frozen=True)
class AnnotatorRow:
    annotator: Annotator
    votes: int
    skips: int
    today: int
    flags: int
    gold: int
    gold_passed: int
    agreement: Agreement


def annotators_overview() -> list[AnnotatorRow]:
    """Every annotator with votes, skips, flags, attention checks and agreement, most votes first."""
    since = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    voted = Q(assignments__state=Assignment.State.VOTED)
    annotators = Annotator.objects.select_related("user").annotate(
        n_votes=Count("assignments", filter=voted),
        n_skips=Count("assignments", filter=Q(assignments__state=Assignment.State.SKIPPED)),
        n_today=Count("assignments", filter=voted & Q(assignments__answered_at__gte=since)),
        n_flagged=Count("assignments", filter=Q(assignments__flagged=True)),
        n_gold=Count("assignments", filter=Q(assignments__gold_passed__isnull=False)),
        n_gold_passed=Count("assignments", filter=Q(assignments__gold_passed=True)),
    )
    votes = overall_votes()
    rows = [
        AnnotatorRow(
            a,
            a.n_votes,
            a.n_skips,
            a.n_today,
            a.n_flagged,
            a.n_gold,
            a.n_gold_passed,
            agreement_of(a.voter_key, votes),
        )
        for a in annotators
    ]
    return sorted(rows, key=lambda row: (-row.votes, row.annotator.voter_key))


@dataclass(frozen=True)
class TaskRow:
    task: AnnotationTask
    battles_voted: int
    battles_complete: int
    votes: int
    agreement: Agreement


def tasks_overview() -> list[TaskRow]:
    """Each task's progress (battles with votes, with all the votes wanted) and inter-annotator agreement."""
    rows = []
    for task in AnnotationTask.objects.all():
        per_battle = (
            Assignment.objects.filter(task=task, state=Assignment.State.VOTED)
            .values("battle_id")
            .annotate(n=Count("pk"))
        )
        counts = [row["n"] for row in per_battle]
        votes = overall_votes(task=task).counted.values()
        agreement = pairwise_agreement(list(by.values()) for by in votes if len(by) >= 2)
        complete = sum(n >= task.votes_per_battle for n in counts)
        rows.append(TaskRow(task, len(counts), complete, sum(counts), agreement))
    return rows


def flags_recent(limit: int = 50):
    return VoteFlag.objects.select_related("assignment__annotator__user", "assignment__task").order_by(
        "-created"
    )[:limit]
