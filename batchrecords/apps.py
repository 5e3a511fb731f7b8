from django.apps import AppConfig


class BatchrecordsConfig(AppConfig):
    name = "batchrecords"
    default_auto_field = "django.db.models.BigAutoField"
