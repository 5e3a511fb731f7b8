"""Periodic training tasks (data only; merged into CELERY_BEAT_SCHEDULE by mes.settings)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "training-certification-expiry": {
        "task": "training.tasks.check_certification_expiry",
        # Daily, shortly after midnight UTC; sites east of UTC are already in their new day.
        "schedule": crontab(minute=15, hour=0),
    },
}
