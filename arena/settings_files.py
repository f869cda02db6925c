"""Settings for the file-only commands (``rate``): they read files and print, touching no database.

``manage.py`` picks this module for them when ``DJANGO_SETTINGS_MODULE`` is not set, so they run on a machine
with no ``SECRET_KEY``, no ``DATABASE_URL`` and no ``var/`` directory. There is deliberately no secret key
and no database here: anything that would sign data or run a query fails loudly instead of using a stand-in.
"""

from __future__ import annotations

# The apps whose models the leaderboard app's modules import; nothing more.
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "arena",
    "judges",
    "leaderboard",
]
DATABASES: dict = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
# No Celery app: nothing here sends tasks (see arena/apps.py).
ARENA_CELERY_APP = False
