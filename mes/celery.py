"""The Celery application. Tasks act as the named system user, so every history row they
write is attributed (django-simple-history has no request in a worker)."""

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")


class SystemTask(Task):
    def __call__(self, *args, **kwargs):
        from mes import audit

        with audit.acting_as(audit.system_user()):
            return super().__call__(*args, **kwargs)


app = Celery("mes", task_cls=SystemTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
