from django.apps import AppConfig
from django.conf import settings


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = "Arena"

    def ready(self) -> None:
        # Create the Celery app now, before any task is sent, so `@shared_task` proxies resolve to it rather
        # than to Celery's default app. File-only settings (arena/settings_files.py) turn this off: `rate`
        # needs no broker, so it does not pay for importing Celery and kombu.
        if settings.ARENA_CELERY_APP:
            import arena.celery  # noqa: F401
