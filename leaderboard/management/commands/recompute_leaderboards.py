"""``manage.py recompute_leaderboards [--sync | --enqueue | --wait]``: refit every leaderboard.

--sync (the default, used by `make demo`): compute here, in this process, through the same coalescing as
the workers — if a recompute is already running elsewhere, it is asked to run once more and this waits.
--enqueue: send the task to the "ratings" workers and return. --wait: send it and wait until it finished.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from leaderboard.models import RecomputeRun
from leaderboard.services.coalescing import recompute_coalesced, recompute_request, recompute_status


class Command(BaseCommand):
    help = "Recompute every leaderboard (default: here and now; --enqueue or --wait use the Celery workers)."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--sync", action="store_true", help="compute in this process (the default)")
        mode.add_argument("--enqueue", action="store_true", help="send the task to the workers and return")
        mode.add_argument("--wait", action="store_true", help="send the task and wait until it finished")
        parser.add_argument(
            "--timeout", type=int, default=1800, help="seconds --wait and --sync wait at most"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        asked = timezone.now()
        if options["enqueue"] or options["wait"]:
            self.stdout.write(f"Recompute requested: {recompute_request(trigger='cli')}.")
            if options["enqueue"]:
                return
        else:
            try:
                outcome = recompute_coalesced(trigger="cli", force=True)
            except Exception as error:  # the run is stored as failed; the previous leaderboards stay shown
                raise CommandError(f"Recompute failed: {type(error).__name__}: {error}") from error
            if not outcome.joined:
                self._report(outcome.runs[-1] if outcome.runs else None)
                return
            self.stdout.write("A recompute is running elsewhere; it will run once more. Waiting for it.")
        self._wait(asked, options["timeout"])

    def _wait(self, asked, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = recompute_status()
            idle = not state.holder and state.queued_at is None
            if idle and state.last_finished and state.last_finished >= asked:
                return self._report(
                    RecomputeRun.objects.filter(started__gte=asked).order_by("-started").first()
                )
            time.sleep(0.5)
        raise CommandError(
            f"No recompute finished within {timeout} s: is a Celery worker consuming the 'ratings' queue? "
            "Run one, or use --sync to compute here."
        )

    def _report(self, run: RecomputeRun | None) -> None:
        if run is None:
            self.stdout.write("Nothing changed since the last run; the leaderboards are up to date.")
        elif run.status != RecomputeRun.Status.DONE:
            raise CommandError(f"Recompute run #{run.pk} {run.status}: {run.error}")
        else:
            self.stdout.write(
                f"Run #{run.pk}: {run.n_snapshots} leaderboards ({run.n_failed} not fitted) from "
                f"{run.n_verdicts} verdicts in {run.duration_ms / 1000:.1f} s."
            )
