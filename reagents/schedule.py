"""Reagents' periodic tasks (data only; merged into CELERY_BEAT_SCHEDULE by the settings)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # The daily expiry check judges each lot by its own site's calendar date. Sites sit in
    # different time zones, so it runs every hour to act within the hour after each site's
    # midnight; being idempotent, it changes a lot once and tells each QA person once a day.
    "reagents-daily-expiry-check": {
        "task": "reagents.tasks.daily_expiry_check",
        "schedule": crontab(minute=15),
    },
}
