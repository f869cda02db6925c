"""The arena under a real ASGI server (uvicorn) in a thread of the test process, for streaming tests.

pytest-django's `live_server` is a WSGI server: an async streaming view would be drained by a sync adapter
there, so what the live battles promise (streams that hold no thread, a closed tab that cancels the call)
can only be tested under ASGI. Same process, so the server uses the test database; static files are served
from the finders as the live server does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class AsgiServer:
    url: str


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[AsgiServer]:
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    from arena.asgi import application

    # The server's threads must not keep connections past their request: the test database is dropped at
    # the end of the run, and a kept connection would hold it.
    db_settings = connections.settings["default"]
    kept_age, db_settings["CONN_MAX_AGE"] = db_settings["CONN_MAX_AGE"], 0
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        ASGIStaticFilesHandler(application),  # type: ignore[arg-type]  # any ASGI app; the stubs want Django's
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.02)
    yield AsgiServer(url=f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    db_settings["CONN_MAX_AGE"] = kept_age
