"""ASGI entry point: the web server of compose and the demo (gunicorn with uvicorn workers).

Under ASGI the live battles' streams are async views: a stream waiting on an endpoint holds no thread, so
the pages keep the workers' threads (Django runs each request's sync code in a thread of its own).
"""

import contextlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
application = get_asgi_application()


def _warm_up() -> None:
    """Import what the first requests would otherwise import on the event loop.

    Django imports the URLconf (and with it every view module, the openai SDK among them) lazily, inside the
    first request it resolves; under ASGI that request is resolved on the worker's event loop, so every stream
    the worker holds stalls while those modules load. Each worker imports them here, before it takes requests.
    """
    from django.urls import Resolver404, get_resolver

    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018  # the property imports every urls and views module
    # A path matching nothing compiles every pattern's regular expression (each is compiled on first use).
    with contextlib.suppress(Resolver404):
        resolver.resolve("/-warm-up-/")


_warm_up()
