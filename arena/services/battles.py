"""Creating battles and recording verdicts on them."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from arena.errors import Invalid
from arena.models import Battle, Dimension, Output, Source, Verdict
from arena.models.verdicts import OUTCOME_SCORE, Outcome


def battle_get_or_create(*, output_a: Output, output_b: Output) -> tuple[Battle, bool]:
    """The battle of these two outputs in this order (A shown first); created if missing."""
    if output_a.prompt_id != output_b.prompt_id:
        raise Invalid("A battle needs two outputs on the same prompt.")
    if output_a.contender_id == output_b.contender_id:
        raise Invalid("A battle needs outputs of two different contenders.")
    try:
        with transaction.atomic():
            return Battle.objects.get_or_create(
                output_a=output_a,
                output_b=output_b,
                defaults={
                    "prompt_id": output_a.prompt_id,
                    "contender_a_id": output_a.contender_id,
                    "contender_b_id": output_b.contender_id,
                },
            )
    except IntegrityError:  # a concurrent writer created it first
        return Battle.objects.get(output_a=output_a, output_b=output_b), False


def source_get_or_create(*, kind: str, key: str, name: str) -> Source:
    source, _ = Source.objects.get_or_create(key=key, defaults={"kind": kind, "name": name})
    return source


def people_source() -> Source:
    return source_get_or_create(kind=Source.Kind.HUMAN, key="people", name="People")


def _score_for(outcome: str | None, score: float | None) -> float:
    if outcome is not None:
        if outcome not in Outcome.values:
            raise Invalid(
                f"Unknown outcome {outcome!r}: use one of {', '.join(Outcome.values)}.", field="outcome"
            )
        return OUTCOME_SCORE[Outcome(outcome)]
    if score is None or not 0.0 <= score <= 1.0:
        raise Invalid(f"A soft verdict needs a score in [0, 1], got {score!r}.", field="score")
    return float(score)


def verdict_record(
    *,
    battle: Battle,
    dimension: Dimension,
    source: Source,
    outcome: str | None = None,
    score: float | None = None,
    user=None,
    voter_key: str = "",
    inconsistent: bool = False,
) -> tuple[Verdict, bool]:
    """Store one verdict; a repeat for the same (battle, dimension, source, voter) returns the stored one.

    The unique constraint, not this code, guarantees once-only under concurrency: one INSERT … ON CONFLICT
    DO NOTHING, so a repeat needs no savepoint and a vote (the arena's hot path) costs one statement here.
    """
    verdict = Verdict(
        battle_id=battle.pk, dimension_id=dimension.pk, source_id=source.pk, voter_key=voter_key,
        contender_a_id=battle.contender_a_id, contender_b_id=battle.contender_b_id,
        user_id=user.pk if user is not None else None, outcome=outcome, score=_score_for(outcome, score),
        inconsistent=inconsistent, created=timezone.now(),
    )  # fmt: skip
    inserted = _verdict_insert(verdict)
    if inserted is None:
        stored = Verdict.objects.get(
            battle_id=battle.pk, dimension_id=dimension.pk, source_id=source.pk, voter_key=voter_key
        )
        return stored, False
    verdict.pk = inserted
    verdict._state.adding = False  # a saved row from now on, as `create()` would leave it
    return verdict, True


def verdicts_withdraw(*, battle_id: int, source: Source, voter_key: str) -> int:
    """Delete one voter's verdicts on a battle (every dimension), as if never given; returns how many.

    For a vote its voter undoes: deleted rather than marked excluded, so the same voter may vote on the
    battle again (the once-per-voter constraint) and nothing counts it twice. Call inside the transaction
    that reopens the vote.
    """
    deleted, _ = Verdict.objects.filter(battle_id=battle_id, source=source, voter_key=voter_key).delete()
    return deleted


_VERDICT_FIELDS = [
    "battle", "dimension", "source", "voter_key", "contender_a", "contender_b", "user", "outcome", "score",
    "inconsistent", "excluded", "created",
]  # fmt: skip


def _verdict_insert(verdict: Verdict) -> int | None:
    """The new row's id, or None when the (battle, dimension, source, voter) verdict exists already."""
    fields = [Verdict._meta.get_field(name) for name in _VERDICT_FIELDS]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    sql = (
        f"INSERT INTO {Verdict._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608
        "ON CONFLICT (battle_id, dimension_id, source_id, voter_key) DO NOTHING RETURNING id"
    )
    params = [field.get_db_prep_save(field.value_from_object(verdict), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def battles_ensure_all_pairs(*, prompt_set_id: int, contender_ids: list[int], seed: int = 0) -> int:
    """Make sure every pair of the given contenders has a battle on every prompt both answered.

    Which side a contender is shown on is drawn at random (seeded, so reruns find the same battles).
    Returns how many battles were created; idempotent.
    """
    import random

    rng = random.Random(seed)
    outputs = Output.objects.filter(
        prompt__prompt_set_id=prompt_set_id, contender_id__in=contender_ids
    ).order_by("prompt_id", "contender_id")
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    created = 0
    for answers in by_prompt.values():
        for i, first in enumerate(answers):
            for second in answers[i + 1 :]:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                if Battle.objects.filter(output_a__in=[a, b], output_b__in=[a, b]).exists():
                    continue
                created += battle_get_or_create(output_a=a, output_b=b)[1]
    return created


def derived_verdicts_sync(*, source: Source, outcomes: dict[tuple[int, int], str]) -> tuple[int, int, int]:
    """Make a derived source's verdicts exactly `outcomes` ((battle id, dimension id) → outcome); returns
    (created, changed, removed).

    Only a jury's verdicts are derived (computed from its member judges' verdicts, and recomputed when those
    or the people's votes it learns from change), so only they are ever rewritten: people's votes and a
    judge's own verdicts are written once, by `verdict_record`. All or nothing, in one transaction; an
    unknown outcome or battle changes nothing.
    """
    if source.kind != Source.Kind.JURY:
        raise Invalid(
            f"Source {source.key!r} is of kind {source.kind!r}: only a jury's verdicts are derived and can be "
            "rewritten; people's and judges' verdicts are recorded once with verdict_record.",
            field="source",
        )
    unknown = {outcome for outcome in outcomes.values() if outcome not in Outcome.values}
    if unknown:
        raise Invalid(
            f"Unknown outcome(s) {sorted(unknown)}: use one of {', '.join(Outcome.values)}.", field="outcome"
        )
    battle_ids = {battle_id for battle_id, _ in outcomes}
    sides = {
        pk: (a, b)
        for pk, a, b in Battle.objects.filter(pk__in=battle_ids).values_list(
            "pk", "contender_a_id", "contender_b_id"
        )
    }
    missing = battle_ids - set(sides)
    if missing:
        raise Invalid(f"No battle with id(s) {sorted(missing)[:10]}.", field="battle")
    with transaction.atomic():
        stored = {
            (battle, dimension): (pk, outcome)
            for pk, battle, dimension, outcome in Verdict.objects.select_for_update()
            .filter(source=source)
            .values_list("pk", "battle_id", "dimension_id", "outcome")
        }
        stale = [pk for key, (pk, _) in stored.items() if key not in outcomes]
        changed = [key for key, outcome in outcomes.items() if key in stored and stored[key][1] != outcome]
        # A changed verdict is deleted and inserted again rather than updated: verdicts are otherwise
        # append-only, and the leaderboard's data fingerprint (count, largest id) relies on it to notice.
        Verdict.objects.filter(pk__in=stale + [stored[key][0] for key in changed]).delete()
        now = timezone.now()
        fresh = [
            Verdict(
                battle_id=battle,
                dimension_id=dimension,
                source=source,
                voter_key="",
                contender_a_id=sides[battle][0],
                contender_b_id=sides[battle][1],
                outcome=outcome,
                score=OUTCOME_SCORE[Outcome(outcome)],
                created=now,
            )  # fmt: skip
            for (battle, dimension), outcome in outcomes.items()
            if (battle, dimension) not in stored or stored[battle, dimension][1] != outcome
        ]
        Verdict.objects.bulk_create(fresh, batch_size=2000)
    return len(fresh) - len(changed), len(changed), len(stale)
