"""The arena project package and its core domain app.

The Celery app is created by ``ArenaConfig.ready()`` (arena/apps.py) when Django starts, so `@shared_task`
binds to it in web and worker processes, while file-only commands (``manage.py rate``) skip Celery's imports.
``celery -A arena`` still finds the app: Celery looks for ``arena.celery.app`` when the package has no ``app``.
"""
