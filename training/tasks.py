"""Time-driven training work. Idempotent: a second run the same day changes nothing."""

from __future__ import annotations

from celery import shared_task

from training.services import expiry


@shared_task(acks_late=True)
def check_certification_expiry() -> dict:
    """Daily: mark certifications past their last valid day expired, then warn those that
    end within the warning window (person and site Supervisors, in the app and by e-mail)."""
    expired = expiry.expire_certifications()
    warned = expiry.warn_of_expiry()
    return {"expired": [c.pk for c in expired], "warned": [c.pk for c in warned]}
