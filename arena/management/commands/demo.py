"""`make demo`: migrate, load the demo arena, start a web server and a real Celery worker, print the URL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now (binding, not connecting: a port held by a process
    that accepts no connections, e.g. a stuck worker, still counts as busy)."""
    with socket.socket() as sock:
        # As gunicorn does: connections of a stopped server lingering in TIME_WAIT do not make it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_busy_message(port: int) -> str:
    return (
        f"Port {port} on 127.0.0.1 is already in use (an earlier demo still running?). "
        f"See who holds it with `ss -ltnp 'sport = :{port}'`, stop that process, or choose another port: "
        f"`DEMO_PORT=9000 make demo`, or `manage.py demo --port 0` for any free port."
    )


def _die_with_parent() -> None:
    """In the child before exec: own process group (so the demo can stop it and all its workers at once), and
    on Linux a SIGTERM when the demo itself dies, even by SIGKILL, so no server outlives it."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# What `make demo` prepares, in order, each step one app's own command (so each also runs alone, and `arena`
# needs no import of the apps built on it): the demo arena, people's votes on it, a few voted live battles, a
# finished campaign of two offline judges, a jury of those judges, then the leaderboards over every verdict
# written before them.
DEMO_STEPS = ("load_demo", "demo_votes", "demo_live", "demo_campaign", "demo_jury", "recompute_leaderboards")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the demo arena: web server + Celery worker on the configured broker, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("DEMO_PORT", "8000")),
            help="Port to serve on (default $DEMO_PORT or 8000); 0 for any free port. A busy port is an error.",
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare the data and exit (used by tests)."
        )

    def handle(self, *args, port: int, no_serve: bool, **options):
        if not no_serve:  # before the slow set-up, so a busy port is reported at once
            if port == 0:
                port = _free_port()
            elif not _port_is_free(port):
                raise CommandError(port_busy_message(port))
        call_command("migrate", verbosity=0)
        for step in DEMO_STEPS:
            call_command(step, stdout=self.stdout)
        password = self._staff_password()
        if no_serve:
            return
        self.serve(port, password)

    def serve(self, port: int, password: str) -> None:
        """Run the web server and the worker until Ctrl-C (or SIGTERM/SIGHUP), then stop both entirely."""
        if not _port_is_free(port):  # taken while the data loaded
            raise CommandError(port_busy_message(port))
        # Ctrl-C reaches this process only (the servers run in process groups of their own): stop them in
        # order, whichever signal asks the demo to end.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGHUP, _raise_interrupt)
        procs = self._start(port)
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nThe demo arena is running at {url}"))
        self.stdout.write(
            f"Staff sign-in: admin / {password}   (admin site: {url}admin/)\nCtrl-C stops it.\n"
        )
        self._wait(procs)

    def _staff_password(self) -> str:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _start(self, port: int) -> list[subprocess.Popen]:
        python = sys.executable
        queues = ",".join(settings.ARENA_QUEUES)
        worker = [
            python,
            "-m",
            "celery",
            "-A",
            "arena",
            "worker",
            "-B",
            "-l",
            "warning",
            "-P",
            "threads",
            "-c",
            "8",
            "-Q",
            queues,
        ]
        # ASGI, as in compose: live battles stream from async views.
        web = [
            python,
            "-m",
            "gunicorn",
            "arena.asgi:application",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ]
        # The offline template model the demo's contenders stream their live answers from (no network).
        demo_model = [python, str(settings.BASE_DIR / "manage.py"), "demo_model"]
        procs: list[subprocess.Popen] = []
        try:
            for command in (worker, demo_model, web):
                procs.append(subprocess.Popen(command, preexec_fn=_die_with_parent))  # noqa: PLW1509
            return procs
        except OSError as exc:
            self._stop(procs)
            raise CommandError(f"Could not start the demo processes: {exc}") from None

    def _wait(self, procs: list[subprocess.Popen]) -> None:
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            self.stderr.write("A demo process exited; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo ...")
        finally:
            self._stop(procs)

    @staticmethod
    def _stop(procs: list[subprocess.Popen], grace_seconds: float = 15) -> None:
        """SIGTERM to each process group (a server and all its workers), SIGKILL to what is left after the
        grace period: nothing the demo started keeps running, or holds its port."""
        for p in procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for p in procs:  # the group leader may be gone while a worker of its group lingers
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited
        os.killpg(proc.pid, signum)
