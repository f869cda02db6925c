"""Which battle an annotator sees next.

Never a battle the annotator was already served (the database refuses it too), nor one with an answer that
names its model (an identity leak) or with a contender they submitted (or their organization's).
Order of preference:
1. now and then (the task's `gold_rate`) an unseen gold battle, as an attention check;
2. when the task or ARENA_VOTE_INCONSISTENT_FIRST asks for it, a *disputed* battle: LLM judges gave
   different verdicts on it (same dimension), or a judge contradicted itself across the two answer orders.
   Human votes there calibrate the judges the most (their report cards, juries and calibrated boards).
   The most disputed come first (see `_dispute_score`); judges' verdicts are arena data (`Verdict` rows
   under sources of kind "judge"), so this needs nothing from the judges app;
3. otherwise the contender pair the *pair priority* function ranks first, on one of its prompts (below).
Battles still short of the task's `votes_per_battle` come first, those with some votes before fresh ones,
so battles reach the votes wanted and agreement between people can be measured.

The pair priority is pluggable (ARENA_VOTE_PAIR_PRIORITY): the default serves the pairs with the fewest
votes; the leaderboard can point it at a function preferring pairs whose rating intervals overlap, without
the arena importing anything from it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import combinations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from arena.models import AnnotationTask, Annotator, Assignment, Battle, GoldBattle, Output, Verdict
from arena.models.verdicts import Source
from arena.services.battles import battle_get_or_create
from arena.voting.conflicts import contenders_conflicting
from arena.voting.held_places import held_places
from arena.voting.pair_votes import Pair, pair_votes
from arena.voting.serve_store import (
    SHUFFLE_MODULUS,
    UNDECIDED,
    PairCandidate,
    battle_with_answers,
    pair_answers_forget,
    pair_candidate,
    pair_candidate_ordered,
    task_contenders,
)


@dataclass(frozen=True)
class PairStats:
    """One unordered contender pair of a task: ids with `low < high`, and the people's votes on it so far."""

    low: int
    high: int
    n_votes: int


PairPriority = Callable[[AnnotationTask, Sequence[PairStats]], Sequence[float]]


def fewest_votes_first(task: AnnotationTask, pairs: Sequence[PairStats]) -> list[float]:
    """The default pair priority: higher is served sooner, so the least-voted pairs come first."""
    return [-float(pair.n_votes) for pair in pairs]


@lru_cache(maxsize=4)
def _load_priority(path: str) -> PairPriority:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"ARENA_VOTE_PAIR_PRIORITY={path!r} cannot be imported ({exc}); give the dotted path of a function "
            "(task, pairs) -> scores, e.g. arena.voting.selection.fewest_votes_first."
        ) from None


def pair_priority() -> PairPriority:
    return _load_priority(settings.ARENA_VOTE_PAIR_PRIORITY)


@dataclass(frozen=True)
class Pick:
    battle: Battle
    gold: GoldBattle | None = None
    disputed: bool = False  # served first because LLM judges dispute it (recorded on the assignment)


def task_contender_ids(task: AnnotationTask) -> list[int]:
    """Approved contenders of the task (all approved ones with answers in its prompt set when none is chosen)."""
    rows = task_contenders(task_id=task.pk, prompt_set_id=task.prompt_set_id, annotator_id=None)
    return [pk for pk, _ in rows]


def _seen(annotator: Annotator) -> QuerySet:
    return Assignment.objects.filter(annotator=annotator).values("battle_id")


def _holding_places(task: AnnotationTask) -> Q:
    """Assignments that count towards a battle's votes wanted: votes, and recent unanswered serves."""
    fresh = timezone.now() - timedelta(minutes=settings.ARENA_VOTE_OPEN_MINUTES)
    return Q(vote_assignments__task=task) & (
        Q(vote_assignments__state=Assignment.State.VOTED)
        | Q(vote_assignments__state=Assignment.State.SERVED, vote_assignments__served_at__gte=fresh)
    )


def _unservable(annotator: Annotator, prefix: str = "") -> Q:
    """Battles never served to this annotator: an answer names its model (identity leak), or a side is a
    contender they submitted or their organization's (arena.voting.conflicts)."""
    own = contenders_conflicting(annotator)
    return (
        ~Q(**{f"{prefix}output_a__identity_leak": ""})
        | ~Q(**{f"{prefix}output_b__identity_leak": ""})
        | Q(**{f"{prefix}contender_a__in": own})
        | Q(**{f"{prefix}contender_b__in": own})
    )


def _gold(task: AnnotationTask, annotator: Annotator, rng: random.Random) -> Pick | None:
    if task.gold_rate <= 0 or rng.random() >= task.gold_rate:
        return None
    gold = (
        GoldBattle.objects.filter(task=task)
        .exclude(battle_id__in=_seen(annotator))
        .exclude(_unservable(annotator, "battle__"))
        .order_by("?")
        .first()
    )
    return Pick(battle=battle_with_answers(gold.battle_id), gold=gold) if gold else None


def _judges_disagree() -> Exists:
    """Two judge sources gave different hard verdicts on the battle, on the same dimension."""
    judge_verdicts = Verdict.objects.filter(
        source__kind=Source.Kind.JUDGE, excluded=False, outcome__isnull=False
    )
    other_outcome = judge_verdicts.filter(
        battle_id=OuterRef("battle_id"), dimension_id=OuterRef("dimension_id")
    ).exclude(outcome=OuterRef("outcome"))
    return Exists(judge_verdicts.filter(battle=OuterRef("pk")).filter(Exists(other_outcome)))


def _dispute_score():
    """2 when judges disagree with each other, plus 1 per judge verdict flagged inconsistent (a judge that
    changed its mind when the answers swapped places). Disagreement weighs more: it says the judges' panel,
    not one judge, cannot tell the answers apart, and it is what juries and calibrated boards learn from.

    Correlated subqueries on the verdicts' battle index, not a join: a join would read every verdict of every
    battle of the prompt set (people's votes included) on each serve."""
    inconsistent = (
        Verdict.objects.filter(
            battle=OuterRef("pk"), inconsistent=True, excluded=False, source__kind=Source.Kind.JUDGE
        )
        .values("battle")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(inconsistent), 0) + Case(
        When(_judges_disagree(), then=Value(2)), default=Value(0)
    )


def _disputed(task: AnnotationTask, annotator: Annotator, ids: list[int], rng: random.Random) -> Pick | None:
    if not (task.inconsistent_first or settings.ARENA_VOTE_INCONSISTENT_FIRST):
        return None
    candidates = (
        Battle.objects.filter(
            prompt__prompt_set_id=task.prompt_set_id, contender_a__in=ids, contender_b__in=ids
        )
        .exclude(pk__in=_seen(annotator))
        .exclude(_unservable(annotator))
        .annotate(dispute=_dispute_score())
        .filter(dispute__gt=0)
        .values("pk", "dispute")
    )
    # Votes held are counted in a second query, on the disputed battles only: counting both in one query
    # would join verdicts and assignments, multiplying each count by the other.
    disputes = {row["pk"]: row["dispute"] for row in candidates}
    if not disputes:
        return None
    held = dict(
        Battle.objects.filter(pk__in=disputes)
        .annotate(n=Count("vote_assignments", filter=_holding_places(task)))
        .values_list("pk", "n")
    )
    open_ = [pk for pk in disputes if held.get(pk, 0) < task.votes_per_battle]
    if not open_:
        return None
    # Most disputed first; among equals the one with the fewest votes held, then at random.
    jitter = {pk: rng.random() for pk in open_}
    best = max(open_, key=lambda pk: (disputes[pk], -held.get(pk, 0), jitter[pk]))
    return Pick(battle=battle_with_answers(best), disputed=True)


def _pairs_ranked(
    task: AnnotationTask, ids: list[int], rng: random.Random, votes: Mapping[Pair, int] | None
) -> list[PairStats]:
    votes = pair_votes(task.pk) if votes is None else votes
    pairs = [PairStats(low, high, votes.get((low, high), 0)) for low, high in combinations(ids, 2)]
    scores = pair_priority()(task, pairs)
    jitter = [rng.random() for _ in pairs]
    order = sorted(range(len(pairs)), key=lambda i: (-scores[i], jitter[i]))
    return [pairs[i] for i in order]


def _pick_of(candidate: PairCandidate, rng: random.Random, prompt_set_id: int) -> Pick:
    """The candidate's battle, created (in a random A/B order) when the pair has none on that prompt yet."""
    if candidate.battle_id is None:
        low, high = (
            Output(pk=pk, prompt_id=candidate.prompt_id, contender_id=contender)
            for pk, contender in candidate.outputs
        )
        a, b = (low, high) if rng.random() < 0.5 else (high, low)
        battle = battle_get_or_create(output_a=a, output_b=b)[0]
        battle_id = battle.pk
        # This process's copy of the pair's battles lacks it (other processes find it with the full statement).
        pair_answers_forget(prompt_set_id, (candidate.low, candidate.high))
    elif candidate.battle is not None:
        return Pick(battle=candidate.battle)
    else:
        battle_id = candidate.battle_id
    return Pick(battle=battle_with_answers(battle_id))


def _pair_pick(
    task: AnnotationTask,
    annotator: Annotator,
    ids: list[int],
    rng: random.Random,
    votes: Mapping[Pair, int] | None,
) -> Pick | None:
    """The first pair, in priority order, with an unseen battle short of the votes wanted; failing that, the
    first pair with any unseen battle. Within a pair, battles that already have votes are completed first
    (so battles reach the votes wanted and agreement between people can be measured), then the least voted.
    One statement per pair tried: usually the first pair has one."""
    fresh = timezone.now() - timedelta(minutes=settings.ARENA_VOTE_OPEN_MINUTES)
    shuffle = rng.randrange(1, SHUFFLE_MODULUS)
    fallback = None
    for pair in _pairs_ranked(task, ids, rng, votes):
        candidate = _pair_candidate(task, annotator, (pair.low, pair.high), fresh, shuffle)
        if candidate is None:
            continue
        if candidate.held < task.votes_per_battle:
            return _pick_of(candidate, rng, task.prompt_set_id)
        fallback = fallback or candidate
    return _pick_of(fallback, rng, task.prompt_set_id) if fallback else None


def _pair_candidate(
    task: AnnotationTask, annotator: Annotator, pair: Pair, fresh: datetime, shuffle: int
) -> PairCandidate | None:
    """The pair's best battle for the annotator: ordered by the places held as counted in Redis when it
    has them (one statement checks the candidates in that order), else, or when that statement cannot
    decide, by the full statement that counts them in the database."""
    held = held_places(task, pair, fresh)
    if held is not None:
        found = pair_candidate_ordered(
            task=task, annotator_id=annotator.pk, pair=pair, held=held, shuffle=shuffle
        )
        if found is not UNDECIDED:
            return found  # type: ignore[return-value]
    return pair_candidate(task=task, annotator_id=annotator.pk, pair=pair, fresh_since=fresh, shuffle=shuffle)


def battle_pick(
    *,
    task: AnnotationTask,
    annotator: Annotator,
    rng: random.Random | None = None,
    votes: Mapping[Pair, int] | None = None,
) -> Pick | None:
    """The next battle for this annotator in this task, or None when they have seen every battle. `votes`:
    the task's votes per pair when the caller read them already (else read here)."""
    rng = rng or random.Random()
    contenders = task_contenders(task_id=task.pk, prompt_set_id=task.prompt_set_id, annotator_id=annotator.pk)
    ids = [pk for pk, conflicting in contenders if not conflicting]
    return (
        _gold(task, annotator, rng)
        or _disputed(task, annotator, ids, rng)
        or _pair_pick(task, annotator, ids, rng, votes)
    )
