"""Recording a vote: verdicts for the people's source, attention checks and integrity flags, exactly once.

The hot path of the arena. One transaction: the assignment (and its annotator) row is locked, so a double
click or a replay waits for the first vote, then finds it and returns the same result without writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from arena.errors import InputError
from arena.models import Assignment, Dimension, PromptSet, Verdict, VoteFlag
from arena.models.verdicts import Outcome
from arena.services.battles import people_source, verdict_record
from arena.voting.identity import Voter
from arena.voting.serving import owned_assignment

# What the annotator can press, in displayed terms: the answer shown on the left or the right.
CHOICES = {"left": "A is better", "right": "B is better", "tie": "Tie", "both_bad": "Both are bad"}
DIMENSION_FIELD_PREFIX = "dim-"


@dataclass(frozen=True)
class Ballot:
    """A vote as posted, in displayed sides; `dimensions` maps optional dimension slugs to choices."""

    overall: str
    dimensions: dict[str, str] = field(default_factory=dict)


def _choice(value: str, where: str) -> str:
    if value not in CHOICES:
        raise InputError(
            f"Unknown choice {value!r} for {where}: use one of {', '.join(CHOICES)}.", field=where
        )
    return value


def ballot_from_post(data: Mapping[str, str]) -> Ballot:
    """Read `overall` and `dim-<slug>` fields; refuse a missing overall or an unknown choice (400)."""
    overall = (data.get("overall") or "").strip()
    if not overall:
        raise InputError(
            "Choose the overall verdict (A is better, B is better, Tie or Both are bad) to vote.",
            field="overall",
        )
    dimensions = {
        key.removeprefix(DIMENSION_FIELD_PREFIX): _choice(value, key)
        for key, value in data.items()
        if key.startswith(DIMENSION_FIELD_PREFIX) and value
    }
    return Ballot(overall=_choice(overall, "overall"), dimensions=dimensions)


def battle_outcome(choice: str, *, left_is_a: bool) -> str:
    """A displayed choice in the battle's own A/B terms."""
    if choice == "left":
        return Outcome.A if left_is_a else Outcome.B
    if choice == "right":
        return Outcome.B if left_is_a else Outcome.A
    return choice


@dataclass(frozen=True)
class VoteResult:
    assignment: Assignment
    replayed: bool


def _locked_for_vote(token: str, voter: Voter) -> Assignment:
    """The assignment (and its annotator) locked, with its task, battle and both contenders, in one query.

    `overall_id` is annotated too: one round trip fetches all the vote needs, which keeps the hot path lean.
    """
    overall = Dimension.objects.filter(slug="overall").values("pk")[:1]
    rows = (
        Assignment.objects.select_related("annotator", "task", "battle__contender_a", "battle__contender_b")
        .select_for_update(of=("self", "annotator"))
        .annotate(overall_id=Subquery(overall))
    )
    return owned_assignment(rows.filter(token=token), voter)


def _dimensions(assignment: Assignment, ballot: Ballot) -> list[Dimension]:
    """Overall first, then the ballot's optional dimensions; 400 for one this battle does not ask about."""
    if assignment.overall_id is None:
        raise InputError(
            "The 'overall' dimension is missing: staff must restore it (migration 0002 seeds it).", status=500
        )
    # verdict_record needs the dimension only as a foreign key: the id from the locked query is enough.
    dimensions = [Dimension(pk=assignment.overall_id, slug="overall")]
    if not ballot.dimensions:
        return dimensions
    of_prompt_set = PromptSet.vote_dimensions.through.objects.filter(
        promptset_id=assignment.task.prompt_set_id
    )
    rows = Dimension.objects.filter(
        pk__in=of_prompt_set.values("dimension_id"), slug__in=list(ballot.dimensions), is_active=True
    )
    offered = {d.slug: d for d in rows}
    unknown = sorted(slug for slug in ballot.dimensions if slug == "overall" or slug not in offered)
    if unknown:
        raise InputError(
            f"This battle asks for no dimension {', '.join(unknown)}: vote only on the rows shown.",
            field="dimension",
        )
    return dimensions + [offered[slug] for slug in sorted(ballot.dimensions)]


def _flags(assignment: Assignment, ballot: Ballot, read_ms: int) -> list[VoteFlag]:
    annotator, flags = assignment.annotator, []
    if read_ms < assignment.min_read_ms:
        detail = f"voted after {read_ms / 1000:.1f} s; reading the answers takes about {assignment.min_read_ms / 1000:.1f} s"
        flags.append(VoteFlag(assignment=assignment, kind=VoteFlag.Kind.TOO_FAST, detail=detail))
    streak = annotator.streak + 1 if annotator.last_choice == ballot.overall else 1
    if streak >= settings.ARENA_VOTE_SAME_CHOICE_STREAK:
        detail = f"{CHOICES[ballot.overall]!r} {streak} times in a row"
        flags.append(VoteFlag(assignment=assignment, kind=VoteFlag.Kind.SAME_CHOICE, detail=detail))
    if assignment.gold_passed is False:
        detail = f"expected {assignment.displayed(assignment.gold.expected)!r}, chose {ballot.overall!r}"
        flags.append(VoteFlag(assignment=assignment, kind=VoteFlag.Kind.GOLD_FAILED, detail=detail))
    annotator.last_choice, annotator.streak = ballot.overall, streak
    return flags


def _write_verdicts(
    assignment: Assignment, dimensions: list[Dimension], outcomes: dict[str, str], voter: Voter
) -> None:
    source, created = people_source(), []
    for dimension in dimensions:
        verdict, new = verdict_record(
            battle=assignment.battle, dimension=dimension, source=source, outcome=outcomes[dimension.slug],
            user=voter.user, voter_key=voter.key,
        )  # fmt: skip
        created.append(verdict.pk)
    if assignment.annotator.excluded:  # staff excluded this annotator: keep their votes out of ratings too
        Verdict.objects.filter(pk__in=created).update(excluded=True)


def _close(assignment: Assignment, outcomes: dict[str, str], read_ms: int, now) -> None:
    assignment.state = Assignment.State.VOTED
    assignment.answered_at, assignment.read_ms = now, read_ms
    assignment.outcome = outcomes["overall"]
    assignment.dimension_outcomes = {slug: outcome for slug, outcome in outcomes.items() if slug != "overall"}


def vote_record(*, token: str, voter: Voter, ballot: Ballot) -> VoteResult:
    """Store the vote on the battle served under `token`, once. A repeat returns the stored vote unchanged.

    Raises InputError: 404 unknown token, 403 served to someone else, 409 skipped, 400 unknown dimension.
    Nothing is written when it raises.
    """
    with transaction.atomic():
        assignment = _locked_for_vote(token, voter)
        if assignment.state == Assignment.State.VOTED:
            return VoteResult(assignment, replayed=True)
        if assignment.state == Assignment.State.SKIPPED:
            raise InputError(
                "You skipped this battle, so it takes no vote any more. Load the next one.", status=409
            )
        now = timezone.now()
        read_ms = max(0, int((now - assignment.served_at).total_seconds() * 1000))
        dimensions = _dimensions(assignment, ballot)
        choices = {"overall": ballot.overall, **ballot.dimensions}
        outcomes = {
            slug: battle_outcome(choice, left_is_a=assignment.left_is_a) for slug, choice in choices.items()
        }
        _write_verdicts(assignment, dimensions, outcomes, voter)
        if assignment.gold_id:
            assignment.gold_passed = outcomes["overall"] == assignment.gold.expected
        flags = _flags(assignment, ballot, read_ms)
        _close(assignment, outcomes, read_ms, now)
        assignment.flagged = bool(flags)
        assignment.save(
            update_fields=[
                "state",
                "answered_at",
                "read_ms",
                "outcome",
                "dimension_outcomes",
                "gold_passed",
                "flagged",
            ]
        )
        assignment.annotator.save(update_fields=["last_choice", "streak"])
        if flags:
            VoteFlag.objects.bulk_create(flags)
    return VoteResult(assignment, replayed=False)
