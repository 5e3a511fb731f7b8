from django.apps import AppConfig


class ReagentsConfig(AppConfig):
    name = "reagents"
    default_auto_field = "django.db.models.BigAutoField"
