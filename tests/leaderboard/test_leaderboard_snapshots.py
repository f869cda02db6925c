"""Recomputes store versioned snapshots whose numbers are exactly the rating core's on the same counts."""

import numpy as np
import pytest

from arena.models import Contender, Dimension, Verdict
from leaderboard.models import RecomputeRun, Snapshot, SnapshotRow
from leaderboard.rating import (
    average_win_rate,
    fit_bradley_terry,
    pair_counts_from_scores,
    win_fraction_matrix,
)
from leaderboard.services.recompute import leaderboards_recompute, runs_prune
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add

pytestmark = pytest.mark.django_db


def core_counts(source_key="people", dimension="overall"):
    """Pair counts folded by the core from single verdicts, contenders numbered like the snapshot (by id)."""
    verdicts = [
        v
        for v in Verdict.objects.filter(source__key=source_key, dimension__slug=dimension, excluded=False)
        .select_related("contender_a", "contender_b")
        .order_by("pk")
        if v.contender_a.status == v.contender_b.status == "approved"
    ]
    ids = sorted({v.contender_a_id for v in verdicts} | {v.contender_b_id for v in verdicts})
    slugs = dict(Contender.objects.values_list("id", "slug"))
    counts = pair_counts_from_scores(
        tuple(slugs[i] for i in ids),
        np.array([ids.index(v.contender_a_id) for v in verdicts]),
        np.array([ids.index(v.contender_b_id) for v in verdicts]),
        np.array([v.score for v in verdicts]),
    )
    return ids, counts


def board(run, source_key="people", dimension="overall", category=""):
    return Snapshot.objects.get(run=run, source_key=source_key, dimension__slug=dimension, category=category)


def test_snapshot_rows_equal_a_direct_fit_of_the_core_on_the_same_counts(settings):
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 100
    arena = arena_make(("alpha", "beta", "gamma", "delta", "omega"), statuses={"omega": "pending"})
    verdicts_add(arena.battles, seed=7, excluded_share=0.1)

    run = leaderboards_recompute(trigger="test")

    snapshot = board(run)
    ids, counts = core_counts()
    expected = fit_bradley_terry(counts, bootstrap_rounds=100, seed=0)
    assert snapshot.status == "ok" and snapshot.contender_ids == ids
    assert snapshot.params == expected.params
    rows = {row.contender_id: row for row in snapshot.rows.all()}
    assert set(rows) == set(ids)
    for i, contender_id in enumerate(ids):
        row = rows[contender_id]
        assert row.rating == pytest.approx(expected.ratings[i], abs=1e-9)
        assert row.ci_low == pytest.approx(expected.ci_low[i], abs=1e-9)
        assert row.ci_high == pytest.approx(expected.ci_high[i], abs=1e-9)
        assert row.rank_ub == expected.rank_ub[i]
        assert row.n_verdicts == expected.n[i]
        assert row.average_win_rate == pytest.approx(average_win_rate(counts)[i], abs=1e-12)
    np.testing.assert_array_equal(np.array(snapshot.wins), counts.wins)
    np.testing.assert_array_equal(np.array(snapshot.battle_count), counts.battles)
    fractions = np.array(snapshot.win_fraction, dtype=float)  # None (never met) becomes NaN
    np.testing.assert_allclose(fractions, win_fraction_matrix(counts), atol=1e-12, equal_nan=True)
    assert [r.contender_id for r in snapshot.rows.order_by("position")] == [
        ids[i] for i in np.argsort(-expected.ratings, kind="stable")
    ]


def test_soft_verdicts_give_the_core_point_ratings():
    arena = arena_make()
    verdicts_add(arena.battles, seed=8, soft_share=0.5)

    run = leaderboards_recompute(trigger="test")

    ids, counts = core_counts()
    expected = fit_bradley_terry(counts)
    rows = {row.contender_id: row.rating for row in board(run).rows.all()}
    np.testing.assert_allclose([rows[i] for i in ids], expected.ratings, atol=1e-9)


def test_every_source_dimension_and_category_gets_a_snapshot_with_style_control():
    arena = arena_make()
    verdicts_add(arena.battles, seed=1)
    verdicts_add(arena.battles, source=judge_source(), seed=2, dimension="correctness")

    run = leaderboards_recompute(trigger="test")

    boards = set(run.snapshots.values_list("source_key", "dimension__slug", "category"))
    assert boards == {
        (source, dimension, category)
        for source, dimension in [
            ("people", "overall"),
            ("judge-gpt", "correctness"),
            ("judges", "correctness"),
        ]
        for category in ("", "math", "writing")
    }
    assert run.status == "done" and run.n_snapshots == 9 and run.n_verdicts == Verdict.objects.count()
    people = board(run)
    assert all(row.style_rating is not None for row in people.rows.all()) or people.style_message
    assert set(people.style_coefficients) <= {"length", "headers", "list_items", "bold"}


def test_a_fit_that_cannot_be_trusted_is_stored_with_its_reason_and_the_run_goes_on():
    arena = arena_make(("alpha", "beta", "gamma", "delta"), categories=())
    disconnected = [
        b
        for b in arena.battles
        if {b.contender_a.slug, b.contender_b.slug} in ({"alpha", "beta"}, {"gamma", "delta"})
    ]
    verdicts_add(disconnected, seed=3)
    verdicts_add(arena.battles[:1], source=judge_source(), seed=4)

    run = leaderboards_recompute(trigger="test")

    people = board(run)
    assert people.status == "failed" and "disconnected" in people.message
    assert people.rows.count() == 0 and people.battle_count  # the matrices are still there to look at
    judge = board(run, "judge-gpt")
    assert judge.status == "failed" and judge.message.startswith("Too few verdicts to rate: 1 between 2")
    assert run.status == "done" and run.n_failed == 3  # people, the judge and the judges' pool


def test_unbeaten_contenders_are_rated_with_the_regulariser_and_say_so():
    arena = arena_make(("alpha", "beta", "gamma"), categories=())
    verdicts_add(
        arena.battles, seed=5, strengths={"alpha": 1000, "beta": 0, "gamma": -5}, outcomes=("a", "b")
    )

    snapshot = board(leaderboards_recompute(trigger="test"))

    assert snapshot.status == "ok"
    assert "Never lost: alpha" in snapshot.message and "regulariser" in snapshot.message
    assert snapshot.diagnostics["never_lost"] == ["alpha"]


def test_runs_are_versions_kept_until_pruned():
    arena = arena_make()
    verdicts_add(arena.battles[:20], seed=1)
    first = leaderboards_recompute(trigger="test")
    verdicts_add(arena.battles[20:], seed=2)
    second = leaderboards_recompute(trigger="test")

    assert board(first).n_verdicts < board(second).n_verdicts
    assert runs_prune(keep=1) == 1
    assert list(RecomputeRun.objects.all()) == [second]
    assert not SnapshotRow.objects.filter(snapshot__run_id=first.pk).exists()


def test_an_unchanged_arena_is_not_refitted_unless_forced():
    arena = arena_make()
    verdicts_add(arena.battles, seed=1)
    leaderboards_recompute(trigger="test")

    assert leaderboards_recompute(trigger="schedule", force=False) is None
    Verdict.objects.filter(pk=Verdict.objects.first().pk).update(excluded=True)
    assert leaderboards_recompute(trigger="schedule", force=False) is not None
    assert leaderboards_recompute(trigger="staff", force=True) is not None


def test_a_crash_marks_the_run_failed_and_keeps_the_previous_one_shown(monkeypatch):
    arena = arena_make()
    verdicts_add(arena.battles, seed=1)
    good = leaderboards_recompute(trigger="test")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("leaderboard.services.board_plan.board_fit", explode)
    with pytest.raises(RuntimeError):
        leaderboards_recompute(trigger="test")

    failed = RecomputeRun.objects.exclude(pk=good.pk).get()
    assert failed.status == "failed" and "disk full" in failed.error
    assert RecomputeRun.objects.filter(status="done").get() == good


def test_inactive_dimensions_get_no_snapshot():
    arena = arena_make()
    verdicts_add(arena.battles, seed=1, dimension="clarity")
    Dimension.objects.filter(slug="clarity").update(is_active=False)

    assert leaderboards_recompute(trigger="test").snapshots.count() == 0


def test_stored_json_reads_back_as_built_whatever_its_keys_and_number_types():
    """Snapshots go in through their own INSERT (JSON by orjson, bound server-side): what is read back is what
    was built, in JSON's own forms (numpy numbers as numbers, non-string keys as strings), which Django's own
    JSON encoding would have refused for the numpy values."""
    from leaderboard.services.storing import snapshots_create

    arena_make(("alpha", "beta"))
    run = RecomputeRun.objects.create(trigger="test")
    built = Snapshot(
        run=run, dimension=Dimension.objects.get(slug="overall"), source_key="x", source_kind="judges",
        source_name="All judges", status="ok", params={"rounds": np.int64(3), 7: [np.float64(0.25), None]},
        contender_ids=[1, 2], wins=[[0.0, 1.5], [2.5, 0.0]], win_fraction=[[None, 0.375], [0.625, None]],
        style_coefficients={"length": 0.1 + 0.2},
    )  # fmt: skip
    contender = Contender.objects.first()
    row = SnapshotRow(snapshot=built, contender=contender, position=1, rating=1000.5, rank_ub=1, n_verdicts=4)

    snapshots_create([(built, [row])])

    stored = Snapshot.objects.get(pk=built.pk)
    assert stored.params == {"rounds": 3, "7": [0.25, None]}
    assert (stored.wins, stored.win_fraction) == ([[0.0, 1.5], [2.5, 0.0]], [[None, 0.375], [0.625, None]])
    assert stored.style_coefficients == {"length": 0.1 + 0.2} and stored.computed == built.computed
    assert list(stored.rows.values_list("contender_id", "rating")) == [(contender.pk, 1000.5)]
