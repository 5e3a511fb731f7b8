from django.apps import AppConfig


class DeviationsConfig(AppConfig):
    name = "deviations"
    default_auto_field = "django.db.models.BigAutoField"
