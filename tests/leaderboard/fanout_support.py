"""Helpers for the fanned-out recompute's tests: an arena with every kind of board, and runs compared whole."""

from __future__ import annotations

from arena.models import Battle, Dimension, Verdict
from arena.services.battles import people_source
from leaderboard.models import JudgeAgreement, RecomputeRun, Snapshot, SnapshotRow
from tests.leaderboard.arena_data import Arena, arena_make, judge_source, verdicts_add

# Differ between two runs of the same data by construction: ids, the run, when and how fast it was fitted.
SNAPSHOT_UNCOMPARED = {"id", "run", "computed", "duration_ms"}
ROW_UNCOMPARED = {"id", "snapshot"}


def arena_with_every_board() -> Arena:
    """People on two dimensions, two judges on one (so a judges' pool and calibrated judge boards), prompts
    in two categories, and a pending contender; style control is on by default. The GPT judge has not
    judged the last battle yet."""
    arena = arena_make(("alpha", "beta", "gamma", "delta", "omega"), statuses={"omega": "pending"})
    verdicts_add(arena.battles, seed=1)
    verdicts_add(arena.battles, seed=4, dimension="helpfulness", votes_per_battle=2)
    unjudged = gpt_unjudged(arena)
    verdicts_add(
        [b for b in arena.battles if b != unjudged], source=judge_source("judge-gpt", "GPT judge"), seed=2
    )
    verdicts_add(
        arena.battles,
        source=judge_source("judge-llama", "Llama judge"),
        seed=3,
        strengths={"gamma": 40, "delta": 30, "beta": 10, "alpha": 0, "omega": 0},
    )
    return arena


def gpt_unjudged(arena: Arena) -> Battle:
    """The battle the GPT judge has not judged yet: the last one between approved contenders."""
    return [b for b in arena.battles if "omega" not in (b.contender_a.slug, b.contender_b.slug)][-1]


def run_contents(run: RecomputeRun) -> dict:
    """Everything a run stored that does not differ by construction: each board's snapshot fields and rows,
    judge agreement, and the run's counts."""
    boards = {}
    for snapshot in Snapshot.objects.filter(run=run):
        fields = {
            field.attname: getattr(snapshot, field.attname)
            for field in Snapshot._meta.concrete_fields
            if field.name not in SNAPSHOT_UNCOMPARED
        }
        rows = [
            {
                f.attname: getattr(row, f.attname)
                for f in SnapshotRow._meta.concrete_fields
                if f.name not in ROW_UNCOMPARED
            }
            for row in SnapshotRow.objects.filter(snapshot=snapshot).order_by("position")
        ]
        boards[snapshot.source_key, snapshot.dimension_id, snapshot.category] = (fields, rows)
    agreements = set(
        JudgeAgreement.objects.filter(run=run).values_list(
            "source_id", "dimension_id", "category", "n_compared", "n_agreed"
        )
    )
    counts = (run.n_snapshots, run.n_failed, run.n_verdicts, run.fingerprint, run.settings)
    return {"boards": boards, "agreements": agreements, "counts": counts}


def people_key() -> str:
    return people_source().key


def late_votes_add(battles: list[Battle], *, dimension: str, outcome: str = "a") -> None:
    """One more person's vote on each battle (a voter none of `verdicts_add`'s voters is)."""
    score = {"a": 1.0, "b": 0.0, "tie": 0.5}[outcome]
    Verdict.objects.bulk_create(
        Verdict(
            battle=battle, dimension=Dimension.objects.get(slug=dimension), source=people_source(),
            contender_a_id=battle.contender_a_id, contender_b_id=battle.contender_b_id,
            voter_key="s:late-voter", outcome=outcome, score=score,
        )
        for battle in battles
    )  # fmt: skip
