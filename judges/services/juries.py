"""Juries: defining them, and deriving their verdicts from their members' (see `judges.jury_maths`).

`jury_refresh` recomputes one jury from scratch: per dimension, the members' final verdicts (their arena
verdicts) are combined into the jury's verdict on every battle where more than half of the members gave one
(a quorum, so that one member alone never speaks for the jury), and the members' choices in each answer order
into the jury's per-order choices (`JuryOrderChoice`). With learned weights, the weights are refitted first
on the people's votes. It writes everything in one transaction, through `derived_verdicts_sync` for the
verdicts, and returns what changed; running it twice on the same data changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from arena.errors import Invalid
from arena.models import Dimension, Source, Verdict
from arena.services.battles import source_get_or_create
from arena.services.verdicts import derived_verdicts_sync
from judges.jury_maths import POSITION_VOTE, VOTE, majority_choice, weighted_choice, weights_fit
from judges.models import JudgeConfig, Judgment, Jury, JuryOrderChoice, WorkStatus

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
# The leaderboard's pseudo-source pooling every judge is addressed by this key; a jury may not take it.
RESERVED_KEYS = {"judges", "people"}
OUTCOME_OF = {1.0: "a", -1.0: "b", 0.0: "tie"}
LABEL_OF = {1.0: "A", -1.0: "B", 0.0: "tie"}


@dataclass(frozen=True)
class JuryRefresh:
    created: int
    changed: int
    removed: int
    order_choices: int


# --- Defining juries ------------------------------------------------------------------------------------


def jury_create(*, slug: str, name: str, method: str, members: list[str]) -> Jury:
    """A new jury and its leaderboard source; `members` are judge config slugs (two or more)."""
    _check_slug(slug)
    configs = _members(members)
    _check_name_and_method(name, method)
    with transaction.atomic():
        source = source_get_or_create(kind=Source.Kind.JURY, key=slug, name=name)
        jury = Jury.objects.create(slug=slug, name=name, method=method, source=source)
        jury.members.set(configs)
    return jury


def jury_update(
    *, jury: Jury, name: str | None = None, method: str | None = None, members: list[str] | None = None
) -> Jury:
    """Change a jury's name, method or members (only what is given); its verdicts follow at the next refresh."""
    configs = _members(members) if members is not None else None
    _check_name_and_method(jury.name if name is None else name, jury.method if method is None else method)
    with transaction.atomic():
        if name is not None:
            jury.name = name
            Source.objects.filter(pk=jury.source_id).update(name=name)
        if method is not None:
            jury.method = method
        jury.save()
        if configs is not None:
            jury.members.set(configs)
    return jury


def _check_slug(slug: str) -> None:
    if not slug or not _SLUG.match(slug):
        raise Invalid(f"Jury slug {slug!r} is not a slug: use letters, digits, - and _.", field="slug")
    if slug in RESERVED_KEYS:
        raise Invalid(f"Jury slug {slug!r} is reserved for the leaderboard; choose another.", field="slug")
    if Source.objects.filter(key=slug).exists():
        raise Invalid(
            f"A leaderboard source is already called {slug!r} (a jury, judge or import); choose another slug.",
            field="slug",
        )


def _check_name_and_method(name: str, method: str) -> None:
    if not name.strip():
        raise Invalid("A jury needs a name, shown on the leaderboard.", field="name")
    if method not in Jury.Method.values:
        raise Invalid(
            f"Unknown jury method {method!r}: use one of {', '.join(Jury.Method.values)}.", field="method"
        )


def _members(slugs: list[str]) -> list[JudgeConfig]:
    wanted = list(dict.fromkeys(slugs))
    configs = list(JudgeConfig.objects.filter(slug__in=wanted))
    unknown = sorted(set(wanted) - {c.slug for c in configs})
    if unknown:
        known = ", ".join(JudgeConfig.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
        raise Invalid(
            f"Unknown judge config(s): {', '.join(unknown)}. Known judge configs: {known}.", field="members"
        )
    if len(configs) < 2:
        raise Invalid(
            f"A jury needs at least two different judge configs; got {len(configs)}.", field="members"
        )
    return configs


# --- Deriving verdicts ----------------------------------------------------------------------------------


def juries_refresh() -> dict[str, JuryRefresh]:
    """Refresh every jury; returns what changed, by jury slug. A jury staff switched off loses its verdicts
    and per-order choices (so it leaves the leaderboard at the next refit); switched on again, it gets them
    back at the next refresh."""
    return {jury.slug: jury_refresh(jury=jury) for jury in Jury.objects.all()}


def jury_refresh(*, jury: Jury) -> JuryRefresh:
    """Recompute the jury's verdicts and per-order choices from its members' (see the module docstring).

    The whole refresh holds a lock on the jury's row: two refreshes at once (beat and a finished campaign)
    run one after the other, the second reading what the first wrote, instead of inserting the same rows."""
    with transaction.atomic():
        locked = Jury.objects.select_for_update().get(pk=jury.pk)
        if not locked.is_active:
            removed = derived_verdicts_sync(source=locked.source, outcomes={})[2]
            JuryOrderChoice.objects.filter(jury=locked).delete()
            Jury.objects.filter(pk=locked.pk).update(inputs_digest="")
            return JuryRefresh(0, 0, removed, 0)
        digest = jury_inputs_digest(locked)
        if digest == locked.inputs_digest:
            return JuryRefresh(0, 0, 0, JuryOrderChoice.objects.filter(jury=locked).count())
        refreshed = _refresh(locked)
        Jury.objects.filter(pk=locked.pk).update(inputs_digest=digest)
        return refreshed


def jury_inputs_digest(jury: Jury) -> str:
    """A digest of everything a refresh reads: the jury's method and members, its members' verdicts and
    judgments, the people's votes (learned weights), the dimensions and the training setting. Verdicts are
    append-only apart from `excluded`, and judgments only move forward in status, so counts and largest ids
    stand for their content; a beat refresh with an equal digest skips the work."""
    members = sorted(jury.members.values_list("pk", "source_id"))
    sources = [source_id for _, source_id in members]
    verdicts = Verdict.objects.filter(source_id__in=sources)
    if jury.method == Jury.Method.LEARNED:
        verdicts = Verdict.objects.filter(Q(source_id__in=sources) | Q(source__kind=Source.Kind.HUMAN))
    parts = {
        "method": jury.method,
        "members": members,
        "verdicts": verdicts.aggregate(
            n=Count("id"), last=Max("id"), out=Count("id", filter=Q(excluded=True))
        ),
        "judgments": Judgment.objects.filter(
            config_version__config_id__in=[pk for pk, _ in members], status=WorkStatus.DONE
        ).aggregate(n=Count("id"), last=Max("id")),
        "dimensions": list(Dimension.objects.order_by("pk").values_list("pk", "slug")),
        "min_training": settings.JUDGES_JURY_MIN_TRAINING,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _refresh(jury: Jury) -> JuryRefresh:
    members = list(jury.members.select_related("source").order_by("slug"))
    column = {m.source_id: k for k, m in enumerate(members)}
    finals = _member_finals(list(column))
    dimension_slugs = dict(Dimension.objects.values_list("pk", "slug"))
    people = _people_majorities() if jury.method == Jury.Method.LEARNED else {}
    outcomes: dict[tuple[int, int], str] = {}
    weights_used: dict[str, dict] = {}
    weights_by_dimension: dict[int, np.ndarray | None] = {}
    for dimension_id, by_battle in finals.items():
        battles = sorted(by_battle)
        votes = np.zeros((len(battles), len(members)))
        voted = np.zeros((len(battles), len(members)), dtype=bool)
        for row, battle in enumerate(battles):
            for source_id, outcome in by_battle[battle].items():
                votes[row, column[source_id]] = VOTE[outcome]
                voted[row, column[source_id]] = True
        weights, record = _weights(jury, members, battles, votes, people, dimension_id)
        weights_by_dimension[dimension_id] = weights
        weights_used[dimension_slugs[dimension_id]] = record
        choices = majority_choice(votes) if weights is None else weighted_choice(votes, weights)
        quorum = voted.sum(axis=1) * 2 > len(members)
        for battle, choice, ok in zip(battles, choices.tolist(), quorum.tolist(), strict=True):
            if ok:
                outcomes[battle, dimension_id] = OUTCOME_OF[choice]
    order_rows = _order_choices(jury, members, weights_by_dimension)
    created, changed, removed = derived_verdicts_sync(source=jury.source, outcomes=outcomes)
    JuryOrderChoice.objects.filter(jury=jury).delete()
    JuryOrderChoice.objects.bulk_create(order_rows, batch_size=2000)
    Jury.objects.filter(pk=jury.pk).update(weights=weights_used, refreshed=timezone.now())
    return JuryRefresh(created, changed, removed, len(order_rows))


def _member_finals(source_ids: list[int]) -> dict[int, dict[int, dict[int, str]]]:
    """dimension id → battle id → member source id → the member's final (hard) verdict."""
    rows = (
        Verdict.objects.filter(source_id__in=source_ids, excluded=False, outcome__isnull=False)
        .values_list("dimension_id", "battle_id", "source_id", "outcome")
        .order_by()
    )
    finals: dict[int, dict[int, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    for dimension_id, battle_id, source_id, outcome in rows.iterator(chunk_size=20_000):
        finals[dimension_id][battle_id][source_id] = outcome
    return finals


def _people_majorities() -> dict[tuple[int, int], float]:
    """(battle, dimension) → +1 when people's strict majority preferred A, −1 when B (draws and split votes
    are left out: they say nothing about which side the jury should take)."""
    rows = (
        Verdict.objects.filter(source__kind=Source.Kind.HUMAN, excluded=False, outcome__isnull=False)
        .values_list("battle_id", "dimension_id", "outcome")
        .order_by()
    )
    tallies: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for battle_id, dimension_id, outcome in rows.iterator(chunk_size=20_000):
        tallies[battle_id, dimension_id][VOTE[outcome]] += 1
    majorities = {}
    for key, tally in tallies.items():
        (first, n_first), *rest = tally.most_common(2)
        if first != 0.0 and (not rest or n_first > rest[0][1]):
            majorities[key] = first
    return majorities


def _weights(
    jury: Jury,
    members: list[JudgeConfig],
    battles: list[int],
    votes: np.ndarray,
    people: dict[tuple[int, int], float],
    dimension_id: int,
) -> tuple[np.ndarray | None, dict]:
    """The learned weights for one dimension (None: majority vote), and what to record about them."""
    if jury.method == Jury.Method.MAJORITY:
        return None, {"method": "majority"}
    rows = [k for k, battle in enumerate(battles) if (battle, dimension_id) in people]
    needed = settings.JUDGES_JURY_MIN_TRAINING
    if len(rows) < needed:
        return None, {
            "method": "majority",
            "n_fitted": len(rows),
            "note": f"{len(rows)} battles with a people's majority (A or B) and a member's verdict; learning "
            f"weights needs {needed} (setting JUDGES_JURY_MIN_TRAINING), so the majority vote is used.",
        }
    target = np.array([people[battles[k], dimension_id] > 0 for k in rows], dtype=float)
    fitted = weights_fit(votes[rows], target)
    return fitted.weights, {
        "method": "learned",
        "n_fitted": fitted.n_fitted,
        "weights": {m.slug: round(float(w), 4) for m, w in zip(members, fitted.weights, strict=True)},
    }


def _order_choices(
    jury: Jury, members: list[JudgeConfig], weights: dict[int, np.ndarray | None]
) -> list[JuryOrderChoice]:
    """The jury's combined positional choice per battle × dimension × order, from the members' judgments
    (the newest version's when a config judged a battle more than once)."""
    column = {m.pk: k for k, m in enumerate(members)}
    dimension_ids = dict(Dimension.objects.values_list("slug", "pk"))
    judgments = (
        Judgment.objects.filter(config_version__config__in=members, status=WorkStatus.DONE)
        .exclude(verdicts__isnull=True)
        .values_list("battle_id", "order", "config_version__config_id", "verdicts")
        .order_by("pk")
    )
    labels: dict[tuple[int, str, int], dict[int, str]] = defaultdict(dict)
    for battle_id, order, config_id, verdicts in judgments.iterator(chunk_size=5_000):
        for slug, label in (verdicts or {}).items():
            if slug in dimension_ids and label in POSITION_VOTE:
                labels[battle_id, order, dimension_ids[slug]][column[config_id]] = label
    keys = [key for key, by_member in labels.items() if len(by_member) * 2 > len(members)]  # quorum
    votes = np.zeros((len(keys), len(members)))
    for row, key in enumerate(keys):
        for k, label in labels[key].items():
            votes[row, k] = POSITION_VOTE[label]
    choices = np.zeros(len(keys))
    dimension_of = np.array([dimension_id for _, _, dimension_id in keys], dtype=np.int64)
    for dimension_id in set(dimension_of.tolist()):
        rows = dimension_of == dimension_id
        learned = weights.get(dimension_id)
        choices[rows] = (
            majority_choice(votes[rows]) if learned is None else weighted_choice(votes[rows], learned)
        )
    return [
        JuryOrderChoice(
            jury=jury,
            battle_id=battle_id,
            dimension_id=dimension_id,
            order=order,
            choice=LABEL_OF[float(choice)],
            n_members=len(labels[battle_id, order, dimension_id]),
        )
        for (battle_id, order, dimension_id), choice in zip(keys, choices.tolist(), strict=True)
    ]
