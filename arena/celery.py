"""The Celery application: configuration comes from Django settings under the CELERY_ prefix."""

import os

from celery import Celery

from arena import broker_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")

# redis:// and rediss:// brokers get kombu's transport with a fault that stopped workers after a broker
# restart turned into a connection error, which Celery handles (arena/broker_transport.py).
broker_transport.register()

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
