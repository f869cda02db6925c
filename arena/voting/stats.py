"""Annotator statistics: progress, agreement with the majority of other people, attention checks.

Agreement compares overall outcomes in battle A/B terms. A battle counts for an annotator when at least one
other (non-excluded) person voted on it and the others' outcomes have a single most common value.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from django.core.cache import caches
from django.utils import timezone

from arena.cache import RedisCache
from arena.models import AnnotationTask, Annotator, Assignment, Verdict
from arena.services.battles import people_source
from arena.voting.agreement_cache import ADVANCE_AFTER, AGREEMENT_SECONDS, agreement_advance, agreement_key
from arena.voting.pair_votes import Pair, pair_votes
from arena.voting.serve_store import progress_counts, task_battle_count


@dataclass(frozen=True)
class Agreement:
    compared: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


def majority(outcomes: Sequence[str]) -> str | None:
    """The most common outcome, or None when there is none or two outcomes share the top count."""
    top = Counter(outcomes).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def agreement_with_majority(mine: Mapping[int, str], others: Mapping[int, Sequence[str]]) -> Agreement:
    """`mine`: battle -> my outcome; `others`: battle -> the other people's outcomes on it."""
    compared = agreed = 0
    for battle_id, outcome in mine.items():
        consensus = majority(others.get(battle_id, ()))
        if consensus is not None:
            compared += 1
            agreed += consensus == outcome
    return Agreement(compared, agreed)


def pairwise_agreement(votes_by_battle: Iterable[Sequence[str]]) -> Agreement:
    """Share of agreeing pairs of people over battles with at least two votes (inter-annotator agreement)."""
    compared = agreed = 0
    for outcomes in votes_by_battle:
        counts = Counter(outcomes)
        n = len(outcomes)
        compared += n * (n - 1) // 2
        agreed += sum(c * (c - 1) // 2 for c in counts.values())
    return Agreement(compared, agreed)


@dataclass(frozen=True)
class OverallVotes:
    """The people's overall outcomes, battle -> {voter_key: outcome}: counted ones, and those staff excluded."""

    counted: dict[int, dict[str, str]]
    excluded: dict[int, dict[str, str]]


def overall_votes(*, battle_ids=None, task=None) -> OverallVotes:
    rows = Verdict.objects.filter(source=people_source(), dimension__slug="overall", outcome__isnull=False)
    if battle_ids is not None:
        rows = rows.filter(battle_id__in=battle_ids)
    if task is not None:
        rows = rows.filter(battle_id__in=Assignment.objects.filter(task=task).values("battle_id"))
    counted: dict[int, dict[str, str]] = defaultdict(dict)
    excluded: dict[int, dict[str, str]] = defaultdict(dict)
    for battle_id, voter_key, outcome, is_excluded in rows.values_list(
        "battle_id", "voter_key", "outcome", "excluded"
    ):
        (excluded if is_excluded else counted)[battle_id][voter_key] = outcome
    return OverallVotes(counted, excluded)


def agreement_of(voter_key: str, votes: OverallVotes) -> Agreement:
    """The voter's agreement with the counted votes of everyone else (their own excluded votes included)."""
    mine = {
        b: by[voter_key]
        for table in (votes.excluded, votes.counted)
        for b, by in table.items()
        if voter_key in by
    }
    others = {b: [o for k, o in votes.counted.get(b, {}).items() if k != voter_key] for b in mine}
    return agreement_with_majority(mine, others)


@dataclass(frozen=True)
class Progress:
    today: int
    total: int
    skipped: int
    agreement: Agreement


def _start_of_today() -> datetime:
    now = timezone.localtime()
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def _agreement_stored(value: object) -> tuple[int, int, int] | None:
    """The stored figure, when it is one: `(compared, agreed, last verdict id)` as `annotator_progress` stores
    it. Anything else (an older shape, a value no `set` of ours wrote) is not, and is computed again."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(type(n) is int for n in value)
        and 0 <= value[1] <= value[0]
        and value[2] >= 0
    ):
        return value[0], value[1], value[2]
    return None


def agreement_stored_read(voter_key: str) -> tuple[object] | None:
    """The voter's stored agreement figure, read from the shared cache, as `annotator_progress(agreement_read=)`
    takes it (None without Redis: the demo computes the whole figure every time)."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None
    try:
        return (cache.get(agreement_key(voter_key)),)
    except Exception:  # a value no `set` of ours wrote: computed again, and stored over it
        return (None,)


def annotator_progress(annotator: Annotator, *, agreement_read: tuple[object] | None = None) -> Progress:
    """Votes today and in total, skips, and agreement with the majority, for the annotator's own page.

    One statement (arena.voting.serve_store.progress_counts). `agreement_read`: the figure stored in the shared
    cache (`agreement_stored_read`, or the serve's pipeline), as a 1-tuple. When it holds one, the statement
    counts the agreement on the battles of the voter's verdicts since then only, and adds it to the stored
    figure (arena.voting.agreement_cache); otherwise (and without `agreement_read`) it counts all of them and
    stores the figure for AGREEMENT_SECONDS."""
    today_since = _start_of_today()
    stored = None if agreement_read is None else _agreement_stored(agreement_read[0])
    if stored is not None:
        compared, agreed, last_verdict = stored
        since = progress_counts(annotator, today_since, after=last_verdict)
        added = (compared + since.compared, agreed + since.agreed, since.last_verdict)
        if since.counted >= ADVANCE_AFTER:
            agreement_advance(annotator.voter_key, stored, added)
        return Progress(
            today=since.today,
            total=since.total,
            skipped=since.skipped,
            agreement=Agreement(compared=added[0], agreed=added[1]),
        )
    counts = progress_counts(annotator, today_since)
    cache = caches["default"]
    if isinstance(cache, RedisCache):  # the demo's file cache would cost more than it saves
        cache.set(
            agreement_key(annotator.voter_key),
            (counts.compared, counts.agreed, counts.last_verdict),
            AGREEMENT_SECONDS,
        )
    return Progress(
        today=counts.today,
        total=counts.total,
        skipped=counts.skipped,
        agreement=Agreement(compared=counts.compared, agreed=counts.agreed),
    )


@dataclass(frozen=True)
class TaskProgress:
    """A task's people's votes so far against its goal: `votes_per_battle` votes on every battle it can serve
    (each pair of its contenders on each prompt both answered)."""

    votes: int
    goal: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.votes / self.goal)) if self.goal else 100


# How long a task's count of battles (its goal, for the progress bar) is kept in the shared cache. It changes
# only when the task's contenders or their answers do, but imports write answers in bulk and staff edit
# contenders in the admin, paths that cannot all say so; a minute bounds how long the bar lags such a change.
# Counting on every serve was a statement costing PostgreSQL about as much as choosing the battle.
TASK_GOAL_SECONDS = 60


def _goal_key(task: AnnotationTask) -> str:
    return f"vote-goal:{task.pk}:{task.prompt_set_id}"


def _task_battles(task: AnnotationTask) -> int:
    """How many battles the task can serve: from the shared cache (Redis) when it holds the count."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):  # the demo's file cache would cost more than the count
        return task_battle_count(task_id=task.pk, prompt_set_id=task.prompt_set_id)
    return _task_battles_read(task, cache.get(_goal_key(task)))


def task_goal_key(task: AnnotationTask) -> str:
    """The shared cache's key (before `make_and_validate_key`) of the task's battle count."""
    return _goal_key(task)


def _task_battles_read(task: AnnotationTask, battles: int | None) -> int:
    cache = caches["default"]
    if battles is None:
        battles = task_battle_count(task_id=task.pk, prompt_set_id=task.prompt_set_id)
        cache.set(_goal_key(task), battles, TASK_GOAL_SECONDS)
    return battles


def task_goal_forget(task: AnnotationTask) -> None:
    """Count the task's goal afresh on its next use (its contenders changed)."""
    caches["default"].delete(_goal_key(task))


def task_progress(
    task: AnnotationTask,
    votes: Mapping[Pair, int] | None = None,
    *,
    goal_read: tuple[int | None] | None = None,
) -> TaskProgress:
    """The task's votes (the people's votes per contender pair, kept in Redis for serving) and its goal (its
    battles × votes wanted per battle; the battles counted at most TASK_GOAL_SECONDS ago). `goal_read`: the
    caller read the cached count already (`task_goal_key`, with Redis), as a 1-tuple (None inside: not held)."""
    if votes is None:
        votes = pair_votes(task.pk)
    battles = _task_battles(task) if goal_read is None else _task_battles_read(task, goal_read[0])
    return TaskProgress(votes=sum(votes.values()), goal=battles * task.votes_per_battle)
