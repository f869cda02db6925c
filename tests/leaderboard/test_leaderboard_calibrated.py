"""Judge leaderboards calibrated by people: read from the verdicts, stored with the run, shown on the page."""

import numpy as np
import pytest

from arena.models import Dimension, Verdict
from arena.services.battles import people_source
from leaderboard.models import Snapshot, SnapshotRow
from leaderboard.rating import pair_counts_from_scores
from leaderboard.rating.calibrated import LabelledBattles, fit_calibrated_bradley_terry
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source

pytestmark = pytest.mark.django_db
SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}
SLUGS = ("alpha", "beta", "gamma", "delta")


def _say(battle, source, outcome, voter=""):
    Verdict.objects.create(
        battle=battle, dimension=Dimension.objects.get(slug="overall"), source=source, voter_key=voter,
        contender_a_id=battle.contender_a_id, contender_b_id=battle.contender_b_id,
        outcome=outcome, score=SCORE[outcome],
    )  # fmt: skip


def _judged_arena(n_people_battles: int):
    """A judge that always prefers delta (people rank it last) and otherwise follows slug order; people
    vote on the first `n_people_battles` battles by slug order (alpha best), twice each."""
    arena = arena_make(SLUGS, n_prompts=8)
    judge = judge_source()
    rank = {c.pk: SLUGS.index(c.slug) for c in arena.contenders}
    delta = next(c.pk for c in arena.contenders if c.slug == "delta")
    for battle in arena.battles:
        a, b = battle.contender_a_id, battle.contender_b_id
        judge_says = "a" if a == delta else "b" if b == delta else ("a" if rank[a] < rank[b] else "b")
        _say(battle, judge, judge_says)
    for battle in arena.battles[:n_people_battles]:
        people_say = "a" if rank[battle.contender_a_id] < rank[battle.contender_b_id] else "b"
        for voter in ("s:1", "s:2"):
            _say(battle, people_source(), people_say, voter)
    return arena, judge


def _judge_snapshot(run, judge):
    return Snapshot.objects.get(run=run, source=judge, category="", dimension__slug="overall")


def test_a_judge_board_is_calibrated_by_the_battles_people_also_judged(settings):
    settings.LEADERBOARD_CALIBRATION_MIN_LABELLED = 20
    settings.LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS = 50
    arena, judge = _judged_arena(n_people_battles=30)
    run = leaderboards_recompute(trigger="test")
    snapshot = _judge_snapshot(run, judge)
    assert snapshot.n_labelled == 30 and snapshot.calibration_message == ""
    stored = {
        r.contender.slug: r for r in SnapshotRow.objects.filter(snapshot=snapshot).select_related("contender")
    }

    # The same fit from arrays built here from the battles, independently of the service's query.
    ids = sorted(c.pk for c in arena.contenders)
    slug_of = {c.pk: c.slug for c in arena.contenders}
    battles = arena.battles
    judge_scores = [Verdict.objects.get(battle=b, source=judge).score for b in battles]
    a = np.searchsorted(ids, [b.contender_a_id for b in battles])
    b_ = np.searchsorted(ids, [b.contender_b_id for b in battles])
    counts = pair_counts_from_scores(tuple(slug_of[i] for i in ids), a, b_, np.array(judge_scores))
    people = [
        np.mean([v.score for v in Verdict.objects.filter(battle=b, source=people_source())])
        for b in battles[:30]
    ]
    labelled = LabelledBattles(a[:30], b_[:30], np.array(people), np.array(judge_scores[:30]))
    expected = fit_calibrated_bradley_terry(
        counts, labelled, bootstrap_rounds=50, seed=settings.LEADERBOARD_SEED
    )
    for k, contender_id in enumerate(ids):
        row = stored[slug_of[contender_id]]
        assert row.calibrated_rating == pytest.approx(expected.ratings[k], abs=1e-6)
        assert row.calibrated_ci_low == pytest.approx(expected.ci_low[k], abs=1e-6)
        assert row.calibrated_ci_low <= row.calibrated_rating <= row.calibrated_ci_high
    # The judge puts delta first; people's votes pull it down.
    assert stored["delta"].calibrated_rating < stored["delta"].rating
    # The people's own board is not calibrated (it is the reference).
    people_board = Snapshot.objects.get(
        run=run, source=people_source(), category="", dimension__slug="overall"
    )
    assert people_board.n_labelled == 0 and people_board.calibration_message == ""


def test_too_few_labelled_battles_leave_the_board_uncalibrated_and_say_why(settings):
    settings.LEADERBOARD_CALIBRATION_MIN_LABELLED = 20
    _, judge = _judged_arena(n_people_battles=5)
    run = leaderboards_recompute(trigger="test")
    snapshot = _judge_snapshot(run, judge)
    assert snapshot.n_labelled == 0
    assert snapshot.calibration_message == (
        "Not calibrated: 5 battles judged by both this judge and people; at least 20 are needed "
        "(setting LEADERBOARD_CALIBRATION_MIN_LABELLED)."
    )
    assert not SnapshotRow.objects.filter(snapshot=snapshot, calibrated_rating__isnull=False).exists()


def test_the_page_shows_the_calibrated_board_and_the_labels_it_rests_on(client, settings):
    settings.LEADERBOARD_CALIBRATION_MIN_LABELLED = 20
    settings.LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS = 20
    _judged_arena(n_people_battles=24)
    leaderboards_recompute(trigger="test")
    html = client.get("/leaderboard/", {"source": "judge-gpt"}).content.decode()
    assert 'data-testid="calibrated"' in html and 'data-testid="n-labelled">24<' in html
    people_page = client.get("/leaderboard/", {"source": "people"}).content.decode()
    assert 'data-testid="calibrated"' not in people_page
    # The same figures in the read API and the exports, beside the raw ones.
    api = client.get("/api/leaderboard/", {"source": "judge-gpt"}).json()
    assert api["n_labelled"] == 24 and all(row["calibrated_ci_low"] is not None for row in api["rows"])
    rows = {
        r.contender.slug: r
        for r in SnapshotRow.objects.filter(snapshot__source__key="judge-gpt", snapshot__category="")
    }
    for row in api["rows"]:
        assert row["calibrated_rating"] == pytest.approx(rows[row["contender"]].calibrated_rating)
    header = client.get("/leaderboard/export.csv", {"source": "judge-gpt"}).content.decode().splitlines()[0]
    assert header.endswith("calibrated_rating,calibrated_ci_low,calibrated_ci_high")


def test_battles_people_were_routed_to_as_disputed_are_left_out(settings):
    from django.utils import timezone

    from arena.models import Assignment
    from arena.voting.identity import annotator_for
    from tests.support import factories

    settings.LEADERBOARD_CALIBRATION_MIN_LABELLED = 20
    settings.LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS = 20
    arena, judge = _judged_arena(n_people_battles=30)
    task = factories.make_voting_task(arena.prompt_set, arena.contenders, slug="routed")
    annotator = annotator_for(factories.voter_of(factories.make_annotator_user("router")))
    for k, battle in enumerate(arena.battles[:10]):
        Assignment.objects.create(
            token=f"t{k}", task=task, annotator=annotator, battle=battle, left_is_a=True, state="voted",
            outcome="a", answered_at=timezone.now(), disputed=k < 8,  # two served the ordinary way: they count
        )  # fmt: skip
    run = leaderboards_recompute(trigger="test")
    assert _judge_snapshot(run, judge).n_labelled == 30 - 8


def test_labelled_battles_from_the_boards_read_equal_those_of_their_own_query(settings):
    """The recompute takes the labelled battles from its one read of every verdict; the query the plan runs
    without style control gives the same rows (routed battles out, soft votes averaged, soft judge verdicts
    out, a second judge and a second dimension)."""
    from django.utils import timezone

    from arena.models import Assignment
    from arena.voting.identity import annotator_for
    from leaderboard.services.calibration import labelled_rows_read
    from leaderboard.services.recompute import boards_and_judging_read
    from tests.support import factories

    arena, judge = _judged_arena(n_people_battles=30)
    other = judge_source("judge-other", "Other judge")
    helpfulness = Dimension.objects.get(slug="helpfulness")
    for k, battle in enumerate(arena.battles[:40]):
        common = {
            "battle": battle, "contender_a_id": battle.contender_a_id, "contender_b_id": battle.contender_b_id
        }  # fmt: skip
        Verdict.objects.create(**common, dimension=helpfulness, source=other, outcome="b", score=0.0)
        if k % 3 == 0:  # a soft judge verdict: not a labelled one
            Verdict.objects.create(**common, dimension=helpfulness, source=judge, outcome=None, score=0.7)
        if k < 20:  # a soft vote among hard ones
            Verdict.objects.create(
                **common, dimension=helpfulness, source=people_source(), voter_key="s:3", outcome=None,
                score=0.3 + k / 100,
            )  # fmt: skip
            _say(battle, people_source(), "tie", voter="s:4")  # a third vote on "overall"
    task = factories.make_voting_task(arena.prompt_set, arena.contenders, slug="routed")
    annotator = annotator_for(factories.voter_of(factories.make_annotator_user("router")))
    for k, battle in enumerate(arena.battles[:6]):
        Assignment.objects.create(
            token=f"t{k}", task=task, annotator=annotator, battle=battle, left_is_a=True, state="voted",
            outcome="a", answered_at=timezone.now(), disputed=k < 4,
        )  # fmt: skip

    _, judging = boards_and_judging_read()
    queried = labelled_rows_read()

    assert judging is not None
    from_read = judging.labelled
    assert sorted(from_read) == sorted(queried) and len(queried) == 2
    for key, rows in queried.items():
        for name in ("a", "b", "human", "judge"):
            np.testing.assert_allclose(getattr(from_read[key], name), getattr(rows, name), rtol=0, atol=1e-15)
        assert len(rows.a) > 10
