"""The web workers' listening sockets: one per worker (SO_REUSEPORT), so that the kernel spreads a burst of
connections over the workers.

Gunicorn's workers share the master's listening socket, and each uvicorn worker (on uvloop, as on asyncio)
accepts every connection waiting whenever that socket turns readable: the worker on a CPU at that moment takes
the whole burst. Fifty live battles opened at once landed 42-44 on one worker and 6-8 on the other, and the
first worker's openings queued for most of the time to first token (docs/live-battles.md). Accepting one
connection per turn of the event loop does not help: during the burst the client holds a core, the worker on
the other core takes every connection while its sibling waits for a CPU (50-0 in a probe like
tests/live/test_serving_accept.py's). With a socket of its own per worker, the kernel assigns each connection to a
worker (by a hash of its addresses) as it arrives, whichever worker runs.

Each worker binds its own socket to the master's address (gunicorn's `--reuse-port` gives the master's socket
SO_REUSEPORT, without which no second socket may bind it), then shuts the master's socket down: it would
otherwise keep its share of the connections with no one to accept them. Connections waiting on the master's
socket at that moment (only as the first worker boots) are dropped, as before the server was up. Without
`--reuse-port` a worker serves the master's socket, as uvicorn's own worker does, and says so.

`gunicorn -k live.serving.OwnSocketUvicornWorker --reuse-port` (compose's web service).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

logger = logging.getLogger(__name__)


def own_listener(shared: socket.socket, backlog: int) -> socket.socket | None:
    """A listening socket of this process's own on `shared`'s address, or None when `shared` is not a TCP
    socket or the address cannot be shared (the master's socket lacks SO_REUSEPORT)."""
    if shared.family not in (socket.AF_INET, socket.AF_INET6) or shared.type != socket.SOCK_STREAM:
        return None
    own = socket.socket(shared.family, socket.SOCK_STREAM)
    try:
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if shared.family == socket.AF_INET6:
            own.setsockopt(
                socket.IPPROTO_IPV6,
                socket.IPV6_V6ONLY,
                shared.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),
            )
        own.bind(shared.getsockname())
        own.listen(backlog)
    except OSError as exc:
        own.close()
        logger.warning(
            "worker serves the shared socket %s (%s; start gunicorn with --reuse-port)",
            shared.getsockname(),
            exc,
        )
        return None
    own.setblocking(False)
    return own


def listeners_of_this_worker(shared: list[socket.socket], backlog: int) -> list[socket.socket]:
    """`shared` with each TCP socket replaced by one of this worker's own; the replaced ones are shut down
    (for every process: they leave the kernel's share-out) and closed here."""
    listeners = []
    for each in shared:
        own = own_listener(each, backlog)
        if own is None:
            listeners.append(each)
            continue
        with contextlib.suppress(OSError):  # another worker shut it down already
            each.shutdown(socket.SHUT_RDWR)
        each.close()
        listeners.append(own)
    return listeners


class OwnSocketUvicornWorker(UvicornWorker):
    """uvicorn's gunicorn worker (uvloop and httptools when installed), listening on a socket of its own."""

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = Server(config=self.config)
        self._install_sigquit_handler()
        shared = self.sockets  # type: ignore[has-type]  # gunicorn's attribute, untyped
        await server.serve(sockets=listeners_of_this_worker(shared, self.config.backlog))
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
