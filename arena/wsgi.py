"""WSGI entry point (gunicorn arena.wsgi).

Django's WSGI handler, with the vote POST served beside the middleware stack (arena.voting.lean_vote says
why and how; every other request, and every vote that is not the ordinary case, goes through Django's).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
django.setup(set_prefix=False)

from arena.voting.lean_vote import VoteRoutedHandler  # noqa: E402  (after setup: it imports models)

application = VoteRoutedHandler()
