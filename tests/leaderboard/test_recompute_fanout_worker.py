"""The fanned-out recompute across real Celery worker processes on Redis: the jobs a worker fits are stored
exactly as fitted here, and a recompute fanned out over two workers stores what the serial path stores."""

import pytest

from leaderboard.models import BoardJob, RecomputeRun
from leaderboard.services.board_jobs import board_jobs_create
from leaderboard.services.board_plan import boards_plan, planned_board_fit
from leaderboard.services.coverage import coverage_read
from leaderboard.services.fanout import FIT_TASK
from leaderboard.services.recompute import boards_read, fit_settings, leaderboards_recompute
from leaderboard.services.storing import snapshots_create
from tests.leaderboard.fanout_support import arena_with_every_board, run_contents
from tests.support.celery_worker import wait_until

pytestmark = pytest.mark.worker
# The workers' settings, set in this process too (`fit_settings`) so both fit alike.
FITS = {
    "LEADERBOARD_BOOTSTRAP_ROUNDS": "20",
    "LEADERBOARD_MIN_VERDICTS": "5",
    "LEADERBOARD_CALIBRATION_MIN_LABELLED": "10",
    "LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS": "20",
}


@pytest.fixture
def worker_settings(settings):
    for name, value in FITS.items():
        setattr(settings, name, int(value))


def test_a_worker_fits_the_jobs_of_a_run_as_this_process_would(worker_factory, worker_settings):
    from arena.celery import app

    arena_with_every_board()
    fits = fit_settings()
    run = RecomputeRun.objects.create(trigger="test", settings=fits.as_dict())
    plan = boards_plan(boards_read(), fits, coverage=coverage_read())
    board_jobs_create(run=run, planned=plan)
    worker = worker_factory(queues="ratings", concurrency=1, env=FITS)

    app.send_task(FIT_TASK, kwargs={"run_id": run.pk})
    jobs = BoardJob.objects.filter(run=run)
    wait_until(lambda: not jobs.exclude(state="done").exists(), timeout=120, what="the worker's fits")

    from_worker = run_contents(run)["boards"]
    assert len(from_worker) == jobs.count() == len(plan) > 10
    here = RecomputeRun.objects.create(trigger="test", settings=fits.as_dict())
    snapshots_create([planned_board_fit(p, fits, here) for p in plan])
    assert from_worker == run_contents(here)["boards"]
    assert RecomputeRun.objects.get(pk=run.pk).n_fitted == len(plan)
    assert any(
        f"{FIT_TASK}[" in line and "succeeded" in line and f": {len(plan)}" in line for line in worker.log
    )


def test_a_recompute_fanned_out_over_two_workers_equals_the_serial_one(worker_factory, worker_settings):
    from arena.celery import app

    arena_with_every_board()
    workers = [
        worker_factory(queues="ratings", concurrency=1, env=FITS, pool="prefork", name=f"ratings{i}")
        for i in (1, 2)
    ]

    app.send_task("leaderboard.recompute", kwargs={"trigger": "test"})
    fanned = wait_until(
        lambda: RecomputeRun.objects.filter(status__in=["done", "failed"]).first(),
        timeout=180,
        what="the fanned-out recompute",
    )
    serial = leaderboards_recompute(trigger="test")

    assert fanned.status == "done", fanned.error
    assert run_contents(fanned) == run_contents(serial)
    log = "".join(line for worker in workers for line in worker.log)
    assert "leaderboard.recompute[" in log and f"{FIT_TASK}[" in log
    assert not BoardJob.objects.exists()
