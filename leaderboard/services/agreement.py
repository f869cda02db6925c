"""LLM judges against people: how often a judge's verdict equals the people's majority on the same battle.

Compared per battle × dimension where both judged, with labels on the rating scale — A better, B better,
or a draw (tie and both-bad are one label, as they score the same). The people's label is the strict
majority of their hard verdicts; with no strict majority (say one A and one B vote) the battle × dimension
is left out rather than guessed. Soft verdicts have no label and are left out too. Only verdicts ratings
count take part (not excluded, approved contenders, active dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.models import Source
from leaderboard.models import ALL_CATEGORIES
from leaderboard.services.aggregation import prompt_categories
from leaderboard.services.grouping import row_groups
from leaderboard.services.sql_columns import sql_columns
from leaderboard.services.verdict_sql import (
    LABEL_CODES,
    N_LABELS,
    OUTCOME_CODES,
    SOFT_CODE,
    counted_where,
    hard_labels_query,
)

# Judges and juries (several judges combined) are compared with people alike.
JUDGING_KINDS = (Source.Kind.JUDGE, Source.Kind.JURY)


@dataclass(frozen=True)
class Agreement:
    source_id: int
    dimension_id: int
    n_compared: int
    n_agreed: int
    category: str = ALL_CATEGORIES


def judge_agreements_compute() -> list[Agreement]:
    """Agreement of each judge source with the people, per dimension, over all categories (category "")
    and per prompt category; judges with no overlap are absent.

    Two reads of numpy columns (people's hard votes; the judges' hard verdicts), compared by numpy: the
    people's strict majority per battle × dimension, then each judge verdict looked up against it."""
    judging, people = _judging_and_people()
    categories = prompt_categories()
    judged = _labels(judging, categories=categories)
    if judged is None or not len(judged["battle"]):
        return []  # spares scanning every human vote when no judge has spoken yet
    votes = _labels(people, categories=None)
    if votes is None or not len(votes["battle"]):
        return []
    return _agreements(judged, votes, categories)


def judge_agreements_of(
    verdicts: dict[str, np.ndarray], category: np.ndarray, categories: tuple[str, ...]
) -> list[Agreement]:
    """`judge_agreements_compute` from the columns of every counted verdict the recompute read already
    (`aggregation.verdict_columns_read` with outcomes; `category`: each verdict's code into `categories`,
    from `aggregation.verdicts_grouped`), instead of two more passes over the verdict table."""
    judging, people = _judging_and_people()
    label = _LABEL_OF_OUTCOME[verdicts["outcome"]]
    hard = label >= 0
    judged_rows = np.flatnonzero(hard & np.isin(verdicts["source"], judging))
    voted_rows = np.flatnonzero(hard & np.isin(verdicts["source"], people))
    if not len(judged_rows) or not len(voted_rows):
        return []
    judged = {name: verdicts[name][judged_rows] for name in ("battle", "dimension", "source")}
    judged |= {"label": label[judged_rows], "category": category[judged_rows]}
    votes = {name: verdicts[name][voted_rows] for name in ("battle", "dimension")} | {
        "label": label[voted_rows]
    }
    return _agreements(judged, votes, categories)


# Outcome code (verdict_sql.OUTCOME_CODES, then SOFT_CODE) → label code (LABEL_CODES); -1: soft, no label.
_LABEL_OF_OUTCOME = np.full(max(*OUTCOME_CODES.values(), SOFT_CODE) + 1, -1, dtype=np.int64)
_LABEL_OF_OUTCOME[list(OUTCOME_CODES.values())] = [LABEL_CODES[name] for name in OUTCOME_CODES]


def _judging_and_people() -> tuple[list[int], list[int]]:
    kinds = dict(Source.objects.values_list("id", "kind"))
    judging = [pk for pk, kind in kinds.items() if kind in JUDGING_KINDS]
    people = [pk for pk, kind in kinds.items() if kind == Source.Kind.HUMAN]
    return judging, people


def _agreements(
    judged: dict[str, np.ndarray], votes: dict[str, np.ndarray], categories: tuple[str, ...]
) -> list[Agreement]:
    keys, majority = _majorities(votes)
    # Each judge verdict's (battle, dimension) among the majorities' keys (sorted), if there.
    verdict_keys = _pair_keys(judged["battle"], judged["dimension"])
    at = np.minimum(np.searchsorted(keys, verdict_keys), len(keys) - 1)
    compared = (keys[at] == verdict_keys) & (majority[at] >= 0)
    agreed = compared & (majority[at] == judged["label"])
    category = judged["category"]
    found: dict[tuple[int, int, str], list[int]] = {}
    rows = np.flatnonzero(compared)
    per = row_groups(
        {"source": judged["source"][rows], "dimension": judged["dimension"][rows], "category": category[rows]}
    )
    n_compared, n_agreed = per.count(), per.sum(agreed[rows].astype(float)).astype(np.int64)
    for g, first in enumerate(rows[per.first].tolist()):
        source, dimension = int(judged["source"][first]), int(judged["dimension"][first])
        # Uncategorised prompts count in "all categories" only, as on the leaderboards.
        # A code of -1: the prompt's category was renamed during the read; it still counts in "all".
        code = int(category[first])
        for name in {ALL_CATEGORIES, categories[code] if code >= 0 else ALL_CATEGORIES}:
            total = found.setdefault((source, dimension, name), [0, 0])
            total[0] += int(n_compared[g])
            total[1] += int(n_agreed[g])
    return [Agreement(s, d, n, a, c) for (s, d, c), (n, a) in sorted(found.items())]


def _labels(source_ids: list[int], *, categories: tuple[str, ...] | None) -> dict[str, np.ndarray] | None:
    """The counted hard verdicts of `source_ids`: battle, dimension, label code (with `categories`: source and
    category code too); None when none can count."""
    where = counted_where(source_ids=source_ids, dimension_ids=None)
    if where is None:
        return None
    query = hard_labels_query(where, categories=categories)
    names = ("battle", "dimension", "label") + (() if categories is None else ("source", "category"))
    return sql_columns(query.sql, query.params, dict.fromkeys(names, "int"))


def _pair_keys(battle: np.ndarray, dimension: np.ndarray) -> np.ndarray:
    """One integer per (battle, dimension): ids are far below 2**31, so the pair packs into an int64."""
    return (battle.astype(np.int64) << 31) | dimension.astype(np.int64)


def _majorities(votes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The (battle, dimension) keys people voted on, sorted, and their strict-majority label code (-1 where no
    label has more votes than every other)."""
    keys = _pair_keys(votes["battle"], votes["dimension"])
    unique, group = np.unique(keys, return_inverse=True)
    tally = np.bincount(group * N_LABELS + votes["label"], minlength=len(unique) * N_LABELS)
    tally = tally.reshape(len(unique), N_LABELS)
    top = tally.argmax(axis=1)
    ordered = np.sort(tally, axis=1)
    strict = ordered[:, -1] > ordered[:, -2]
    return unique, np.where(strict, top, -1)
