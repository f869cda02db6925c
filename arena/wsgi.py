"""WSGI entry point (gunicorn arena.wsgi).

Django's WSGI handler, with the vote POST and the served battle's htmx GET served beside the middleware stack
(arena.voting.lean_vote and arena.voting.lean_serve say why and how; every other request, and every vote or
serve that is not the ordinary case, goes through Django's).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
django.setup(set_prefix=False)

from arena.voting.lean_vote import VoteRoutedHandler  # noqa: E402  (after setup: it imports models)

application = VoteRoutedHandler()
