"""The fanned-out recompute in one process (the coordinator fits every job itself when no worker helps):
the same run as the serial path, unchanged boards copied instead of refitted, and bad job rows refused.

With a real worker process on Redis: tests/leaderboard/test_recompute_fanout_worker.py.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from arena.models import Dimension, Prompt
from leaderboard.models import BoardJob, RecomputeRun, Snapshot
from leaderboard.services import board_jobs
from leaderboard.services.board_jobs import board_jobs_create, board_jobs_work
from leaderboard.services.board_plan import boards_plan
from leaderboard.services.coverage import coverage_read
from leaderboard.services.fanout import BoardFitFailed
from leaderboard.services.recompute import boards_read, fit_settings, leaderboards_recompute
from tests.leaderboard.arena_data import judge_source, verdicts_add
from tests.leaderboard.fanout_support import (
    arena_with_every_board,
    gpt_unjudged,
    late_votes_add,
    people_key,
    run_contents,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def calibrated_with_few_battles(settings):
    """Calibration needs fewer labelled battles than a small arena has, so calibrated boards are stored."""
    settings.LEADERBOARD_CALIBRATION_MIN_LABELLED = 10
    settings.LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS = 20


@pytest.fixture
def fitted_boards(monkeypatch):
    """The (source key, dimension id, category) of every board a fanned-out run fits, recorded around the
    real fit."""
    fitted: list[tuple] = []
    real = board_jobs.planned_board_fit

    def recording(planned, fits, run):
        key = planned.board.key
        fitted.append((key.source.key, key.dimension_id, key.category))
        return real(planned, fits, run)

    monkeypatch.setattr(board_jobs, "planned_board_fit", recording)
    return fitted


def test_a_fanned_out_run_stores_what_the_serial_one_does(fitted_boards):
    arena_with_every_board()

    fanned = leaderboards_recompute(trigger="test", fanout=True)
    serial = leaderboards_recompute(trigger="test")

    assert fanned.status == serial.status == "done"
    assert len(fitted_boards) == fanned.n_snapshots > 10  # nothing to reuse: every board was fitted
    kinds = set(Snapshot.objects.filter(run=fanned).values_list("source_kind", flat=True))
    assert kinds == {"human", "judge", "judges"}
    assert Snapshot.objects.filter(run=fanned, n_labelled__gt=0).exists()  # calibrated boards included
    assert run_contents(fanned) == run_contents(serial)
    assert not BoardJob.objects.exists()


def test_an_unchanged_arena_is_copied_not_refitted(fitted_boards):
    arena_with_every_board()
    first = leaderboards_recompute(trigger="test", fanout=True)
    fitted_boards.clear()

    second = leaderboards_recompute(trigger="test", fanout=True)

    assert fitted_boards == []
    assert run_contents(second) == run_contents(first)
    computed = {s.source_key + s.category + str(s.dimension_id): s.computed for s in first.snapshots.all()}
    assert {
        s.source_key + s.category + str(s.dimension_id): s.computed for s in second.snapshots.all()
    } == computed


def test_new_votes_refit_only_the_boards_they_touch(fitted_boards):
    arena = arena_with_every_board()
    leaderboards_recompute(trigger="test", fanout=True)
    fitted_boards.clear()
    math = [b for b in arena.battles if b.prompt.category == "math"]

    late_votes_add(math, dimension="helpfulness")
    refitted = leaderboards_recompute(trigger="test", fanout=True)

    helpfulness = Dimension.objects.get(slug="helpfulness").pk
    assert sorted(fitted_boards) == [(people_key(), helpfulness, ""), (people_key(), helpfulness, "math")]
    assert run_contents(refitted) == run_contents(leaderboards_recompute(trigger="test"))


def test_a_judge_verdict_refits_that_judge_and_the_judges_pool_only(fitted_boards):
    arena = arena_with_every_board()
    leaderboards_recompute(trigger="test", fanout=True)
    fitted_boards.clear()
    unjudged = gpt_unjudged(arena)

    verdicts_add([unjudged], source=judge_source("judge-gpt", "GPT judge"), seed=11)
    leaderboards_recompute(trigger="test", fanout=True)

    overall = Dimension.objects.get(slug="overall").pk
    category = unjudged.prompt.category
    expected = {(source, overall, c) for source in ("judge-gpt", "judges") for c in ("", category)}
    assert set(fitted_boards) == expected and len(fitted_boards) == len(expected)


def test_changed_settings_or_categories_refit_the_boards_they_change(fitted_boards, settings):
    arena_with_every_board()
    first = leaderboards_recompute(trigger="test", fanout=True)

    fitted_boards.clear()
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 25
    second = leaderboards_recompute(trigger="test", fanout=True)
    assert len(fitted_boards) == second.n_snapshots == first.n_snapshots

    fitted_boards.clear()
    Prompt.objects.filter(category="writing").update(category="poetry")
    leaderboards_recompute(trigger="test", fanout=True)
    # Boards over all categories hold the same battles as before, and the "math" ones too: both copied.
    assert {category for _, _, category in fitted_boards} == {"poetry"}


def _planned_run() -> RecomputeRun:
    """A running run with one pending job per board, as a fanned-out recompute leaves them for workers."""
    fits = fit_settings()
    run = RecomputeRun.objects.create(trigger="test", settings=fits.as_dict())
    board_jobs_create(run=run, planned=boards_plan(boards_read(), fits, coverage=coverage_read()))
    return run


def test_a_job_whose_worker_died_is_taken_over_once_its_lease_lapsed():
    arena_with_every_board()
    run = _planned_run()
    lapsed = timezone.now() - timedelta(seconds=1)
    BoardJob.objects.filter(run=run, position=0).update(
        state="claimed", token="dead-worker", lease_until=lapsed, attempts=1
    )
    held = timezone.now() + timedelta(minutes=5)
    BoardJob.objects.filter(run=run, position=1).update(
        state="claimed", token="live-worker", lease_until=held
    )

    settled = board_jobs_work(run_id=run.pk)

    jobs = BoardJob.objects.filter(run=run)
    assert settled == jobs.count() - 1  # all but the one a live worker still holds
    assert jobs.get(position=0).state == "done" and jobs.get(position=0).attempts == 2
    assert jobs.get(position=1).state == "claimed" and jobs.get(position=1).token == "live-worker"


def test_a_slow_worker_whose_job_was_taken_over_backs_off_and_keeps_the_other_snapshot():
    """The slow worker's lease lapsed while it fitted; another worker took the job over and stored its
    snapshot first. The slow one must back off (not fail on the board's unique constraint and fail the run)."""
    arena_with_every_board()
    run = _planned_run()
    fits = fit_settings()
    slow = board_jobs.board_job_claim(run_id=run.pk, token="slow-worker")
    assert slow is not None
    BoardJob.objects.filter(pk=slow.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    fast = board_jobs.board_job_claim(run_id=run.pk, token="fast-worker")
    assert fast is not None and fast.pk == slow.pk

    assert board_jobs.board_job_fit(fast, token="fast-worker", run=run, fits=fits) is True
    assert board_jobs.board_job_fit(slow, token="slow-worker", run=run, fits=fits) is False

    job = BoardJob.objects.get(pk=slow.pk)
    assert (job.state, job.token, job.error) == ("done", "fast-worker", "")
    assert Snapshot.objects.filter(run=run).count() == 1


def test_a_board_whose_worker_died_every_time_fails_with_a_reason():
    arena_with_every_board()
    run = _planned_run()
    lapsed = timezone.now() - timedelta(seconds=1)
    BoardJob.objects.filter(run=run, position=0).update(
        state="claimed", token="dead", lease_until=lapsed, attempts=BoardJob.MAX_ATTEMPTS
    )

    board_jobs_work(run_id=run.pk)

    job = BoardJob.objects.get(run=run, position=0)
    assert job.state == "failed" and job.result is None
    assert job.error == "Its worker stopped before finishing, 3 times (out of memory or killed?)."


def test_a_task_for_a_finished_or_unknown_run_does_nothing():
    arena_with_every_board()
    run = _planned_run()
    RecomputeRun.objects.filter(pk=run.pk).update(status="failed", finished=timezone.now())

    assert board_jobs_work(run_id=run.pk) == 0
    assert board_jobs_work(run_id=run.pk + 1000) == 0
    assert set(BoardJob.objects.filter(run=run).values_list("state", flat=True)) == {"pending"}


def test_a_job_that_is_not_a_packed_board_fails_the_run_and_keeps_the_last_one(monkeypatch):
    arena = arena_with_every_board()
    good = leaderboards_recompute(trigger="test", fanout=True)
    verdicts_add(arena.battles, seed=12, dimension="clarity")  # new boards, so there are jobs to create
    real = board_jobs.planned_board_pack
    monkeypatch.setattr(board_jobs, "planned_board_pack", lambda planned: b"written by another version")

    with pytest.raises(BoardFitFailed) as raised:
        leaderboards_recompute(trigger="test", fanout=True)

    message = str(raised.value)
    assert "failed: PackingError: not a packed board" in message and "Board job 0 of run" in message
    failed = RecomputeRun.objects.exclude(pk=good.pk).get()
    assert failed.status == "failed" and "not a packed board" in failed.error
    assert not Snapshot.objects.filter(run=failed).exists() and not BoardJob.objects.exists()
    assert RecomputeRun.objects.filter(status="done").get() == good
    assert real is not board_jobs.planned_board_pack
