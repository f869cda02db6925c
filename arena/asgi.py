"""ASGI entry point: the web server of compose and the demo (gunicorn with uvicorn workers).

Under ASGI the live battles' streams are async views: a stream waiting on an endpoint holds no thread, so
the pages keep the workers' threads (each request's sync views run in the thread pool, ASGI_THREADS wide).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
application = get_asgi_application()
