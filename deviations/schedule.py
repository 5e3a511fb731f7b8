"""Periodic work of the deviations app (data only: merged into CELERY_BEAT_SCHEDULE)."""

BEAT_SCHEDULE = {
    "deviations-escalate-overdue": {
        "task": "deviations.tasks.escalate_overdue_deviations",
        "schedule": 60.0,
    },
}
