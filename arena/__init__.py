"""The arena project package and its core domain app.

Importing the Celery app here makes `@shared_task` bind to it whenever Django starts.
"""

from arena.celery import app as celery_app

__all__ = ["celery_app"]
