"""`make demo`: migrate, load the demo arena, start a web server and a real Celery worker, print the URL."""

from __future__ import annotations

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
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Command(BaseCommand):
    help = "Run the demo arena: web server + Celery worker on the configured broker, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare the data and exit (used by tests)."
        )

    def handle(self, *args, port: int, no_serve: bool, **options):
        call_command("migrate", verbosity=0)
        call_command("load_demo", stdout=self.stdout)
        for hook in getattr(settings, "ARENA_DEMO_HOOKS", []):
            call_command(hook, stdout=self.stdout)
        password = self._staff_password()
        if no_serve:
            return
        port = port if _port_is_free(port) else _free_port()
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
        queues = ",".join(getattr(settings, "ARENA_QUEUES", ["celery"]))
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
        web = [
            python,
            "-m",
            "gunicorn",
            "arena.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ]
        try:
            return [subprocess.Popen(worker), subprocess.Popen(web)]
        except OSError as exc:
            raise CommandError(f"Could not start the demo processes: {exc}") from None

    def _wait(self, procs: list[subprocess.Popen]) -> None:
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            self.stderr.write("A demo process exited; stopping the rest.")
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
