"""Which two contenders answer a live battle.

Candidates: approved contenders with an endpoint (URL and model), minus the person's own and their
organization's (arena.voting.conflicts), minus those at their hourly limit. The pair is ranked by the same
pluggable priority as voting's pair choice (ARENA_VOTE_PAIR_PRIORITY), fed with the live votes per pair and
a stand-in task on the live prompt set, so an arena that prefers, say, close pairs gets them live too.
"""

from __future__ import annotations

import random
from itertools import combinations

from django.conf import settings
from django.db.models import Count

from arena.errors import Conflict, Throttled
from arena.models import AnnotationTask, Annotator, Contender, PromptSet
from arena.voting import PairStats, contenders_conflicting, pair_priority
from live.models import LiveBattle
from live.services.limits import contenders_over_hourly_limit


def contenders_with_endpoints() -> list[Contender]:
    return list(
        Contender.objects.filter(status=Contender.Status.APPROVED)
        .exclude(endpoint_url="")
        .exclude(endpoint_model="")
        .order_by("pk")
    )


def _live_votes_per_pair(ids: list[int]) -> dict[tuple[int, int], int]:
    rows = (
        LiveBattle.objects.filter(state=LiveBattle.State.VOTED, contender_a__in=ids, contender_b__in=ids)
        .values_list("contender_a", "contender_b")
        .annotate(n=Count("pk"))
        .order_by()
    )
    votes: dict[tuple[int, int], int] = {}
    for a, b, n in rows:
        pair = (min(a, b), max(a, b))
        votes[pair] = votes.get(pair, 0) + n
    return votes


def _stand_in_task() -> AnnotationTask:
    """An unsaved task on the live prompt set: what the priority hook is given to read (never stored)."""
    prompt_set = PromptSet.objects.filter(slug=settings.ARENA_LIVE_PROMPT_SET).first()
    return AnnotationTask(slug="live", name="Live battles", prompt_set=prompt_set, votes_per_battle=2)


def pair_draw(*, annotator: Annotator, rng: random.Random | None = None) -> tuple[Contender, Contender]:
    """Two contenders in a random order (A, B); `Conflict` when fewer than two may ever answer this voter,
    `Throttled` when enough could but are at their hourly limit."""
    rng = rng or random.Random()
    candidates = contenders_with_endpoints()
    own = set(contenders_conflicting(annotator).values_list("pk", flat=True))
    candidates = [c for c in candidates if c.pk not in own]
    busy = contenders_over_hourly_limit([c.pk for c in candidates])
    available = [c for c in candidates if c.pk not in busy]
    if len(available) < 2:
        if len(candidates) >= 2:
            raise Throttled(
                "The models have reached this arena's hourly limit of live battles. Try again later.",
                retry_after=3600,
            )
        raise Conflict(
            "Live battles need two approved models with endpoints that you did not submit; this arena has "
            f"{len(candidates)}. Staff give contenders an endpoint (URL and model) on their admin page."
        )
    by_id = {c.pk: c for c in available}
    votes = _live_votes_per_pair(list(by_id))
    pairs = [PairStats(low, high, votes.get((low, high), 0)) for low, high in combinations(sorted(by_id), 2)]
    scores = pair_priority()(_stand_in_task(), pairs)
    best = max(range(len(pairs)), key=lambda i: (scores[i], rng.random()))
    first, second = by_id[pairs[best].low], by_id[pairs[best].high]
    return (first, second) if rng.random() < 0.5 else (second, first)
