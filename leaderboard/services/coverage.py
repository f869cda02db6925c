"""Coverage: how many of a leaderboard's prompts each contender answered, read once per recompute.

A leaderboard "uses" every prompt of the prompt sets its verdicts came from (for a category board, those
of that category). A contender that answered fewer than `ARENA_MIN_COVERAGE` percent of them is not ranked
on it (the pages list it apart as incomplete): it was compared on a subset that may favour it.
The live prompt set (ARENA_LIVE_PROMPT_SET) is left out: each of its prompts is answered by the two
contenders drawn for it alone, so coverage means nothing there.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Count

from arena.models import Output, Prompt, PromptSet
from leaderboard.models import ALL_CATEGORIES
from leaderboard.services.aggregation import verdicts_counted
from leaderboard.services.grouping import row_groups


@dataclass(frozen=True)
class Coverage:
    """Counts behind every board's coverage. `prompts[set, category]` is the number of prompts;
    `answered[contender][set, category]` the number the contender answered; `sets_by_source[source]` the
    prompt sets that source's counted verdicts came from."""

    sets_by_source: dict[int, frozenset[int]] = field(default_factory=dict)
    prompts: Counter = field(default_factory=Counter)
    answered: dict[int, Counter] = field(default_factory=dict)

    def prompt_keys(self, source_ids: Iterable[int], category: str) -> list[tuple[int, str]]:
        sets = set().union(*(self.sets_by_source.get(s, frozenset()) for s in source_ids))
        return [
            key
            for key in self.prompts
            if key[0] in sets and (category == ALL_CATEGORIES or key[1] == category)
        ]

    def of(self, keys: list[tuple[int, str]], contender_id: int) -> tuple[int, int]:
        """(answered, total) over the prompts under `keys` (from `prompt_keys`)."""
        answered = self.answered.get(contender_id, Counter())
        return sum(answered[k] for k in keys), sum(self.prompts[k] for k in keys)


def coverage_read() -> Coverage:
    """Three grouped queries: the prompt sets each source judged on, prompts and outputs per set × category.

    The first reads every counted verdict; it asks for (source, prompt) pairs, which joins the battles only,
    and maps prompts to their sets here (prompts are few next to verdicts)."""
    pairs = list(verdicts_counted().values_list("source_id", "battle__prompt_id").distinct().order_by())
    return _coverage(pairs)


def coverage_of(source_ids: np.ndarray, prompt_ids: np.ndarray) -> Coverage:
    """`coverage_read`, given each counted verdict's source and its battle's prompt (parallel arrays, from
    the recompute's own read of every counted verdict, `aggregation.verdicts_grouped`): the same counts
    without a second pass over the verdict table (most of `coverage_read`'s time at a million verdicts)."""
    distinct = row_groups({"source": source_ids, "prompt": prompt_ids}).first
    return _coverage(list(zip(source_ids[distinct].tolist(), prompt_ids[distinct].tolist(), strict=True)))


def _coverage(pairs: list[tuple[int, int]]) -> Coverage:
    """Coverage from the distinct (source, prompt) pairs of the counted verdicts; the prompts and outputs
    per set × category are two small grouped queries."""
    set_of = dict(
        Prompt.objects.filter(id__in={prompt_id for _, prompt_id in pairs}).values_list("id", "prompt_set_id")
    )
    sets_by_source: dict[int, set[int]] = defaultdict(set)
    for source_id, prompt_id in pairs:
        sets_by_source[source_id].add(set_of[prompt_id])
    used = set().union(*sets_by_source.values()) if sets_by_source else set()
    used -= set(PromptSet.objects.filter(slug=settings.ARENA_LIVE_PROMPT_SET).values_list("pk", flat=True))
    prompts = Counter(
        {
            (row["prompt_set_id"], row["category"]): row["n"]
            for row in Prompt.objects.filter(prompt_set_id__in=used)
            .values("prompt_set_id", "category")
            .annotate(n=Count("id"))
            .order_by()
        }
    )
    answered: dict[int, Counter] = defaultdict(Counter)
    outputs = (
        Output.objects.filter(prompt__prompt_set_id__in=used)
        .values_list("contender_id", "prompt__prompt_set_id", "prompt__category")
        .annotate(n=Count("id"))
        .order_by()
    )
    for contender_id, set_id, category, n in outputs:
        answered[contender_id][set_id, category] = n
    return Coverage({s: frozenset(v) for s, v in sets_by_source.items()}, prompts, dict(answered))
