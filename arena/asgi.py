"""ASGI entry point: the web server of compose and the demo (gunicorn with uvicorn workers).

Under ASGI the live battles' streams are async: a stream waiting on an endpoint holds no thread, so the
pages keep the workers' threads (Django runs each request's sync code in a thread of its own). The streams
are served beside Django's request stack (`live.stream_app`), the rest by Django's ASGI handler, with the
vote POST and the served battle's htmx GET offered to their lean paths first, as under WSGI
(`arena.voting.lean_asgi`).
"""

import contextlib
import os

import django
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application


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

from arena.voting.lean_asgi import VoteRoutedASGIHandler  # noqa: E402  (after setup: it imports models)

django_application = VoteRoutedASGIHandler()

# Live battles' streams skip Django's request stack (live.stream_app says why); everything else goes to it.
# Named by its dotted path, as the URLconf includes "live.urls": the project package does not import apps.
application = import_string("live.stream_app.stream_routed")(django_application)
