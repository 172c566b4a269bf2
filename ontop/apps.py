from django.apps import AppConfig


class OntopConfig(AppConfig):
    """The project package as an app: it owns site-wide management commands (periodic)."""

    name = "ontop"
    default_auto_field = "django.db.models.BigAutoField"
