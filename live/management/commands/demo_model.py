"""`manage.py demo_model`: serve the demo's offline template model on loopback and point the demo's approved
contenders at it, so live battles work in `make demo` with no network. Runs until SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from arena.demo.content import CONTENDERS
from arena.models import Contender
from live.demo_model import DemoModelServer, shape_of


class Command(BaseCommand):
    help = "Serve the demo's template model (OpenAI-compatible, streaming) and set it as the demo contenders' endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=0, help="Port on 127.0.0.1 (default: any free one).")

    def handle(self, *args, port: int, **options):
        shapes = {str(p["slug"]): shape_of(p["styles"]) for p in CONTENDERS}  # type: ignore[index, arg-type]  # demo profiles are plain dicts
        server = DemoModelServer(("127.0.0.1", port), shapes)
        try:
            self._point_contenders(shapes, server.base_url)
        except DatabaseError as exc:  # no schema yet: the model still serves; nothing points at it
            self.stderr.write(f"demo model: contenders not pointed at {server.base_url} ({exc}); run migrate")
        self.stdout.write(f"READY {server.base_url} (demo template model for live battles)")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it as SIGTERM does
            stop.wait()
        server.shutdown()

    @staticmethod
    def _point_contenders(shapes: dict, base_url: str) -> None:
        updated = Contender.objects.filter(slug__in=shapes, status=Contender.Status.APPROVED, endpoint_url="")
        for contender in updated:
            Contender.objects.filter(pk=contender.pk).update(
                endpoint_url=base_url, endpoint_model=contender.slug
            )
        # Contenders pointed at an earlier run's port follow the server to its new one.
        Contender.objects.filter(slug__in=shapes, endpoint_url__startswith="http://127.0.0.1:").update(
            endpoint_url=base_url
        )
