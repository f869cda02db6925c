from django.apps import AppConfig


class LiveConfig(AppConfig):
    """Live battles: people type a prompt, two anonymous contenders stream their answers, people vote."""

    name = "live"
    default_auto_field = "django.db.models.BigAutoField"
