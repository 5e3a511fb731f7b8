"""A real Celery worker against Redis (not eager mode): a notification's e-mail is sent by
the worker only after the transaction commits, and its history names the system user."""

import pytest
from django.core import mail
from django.db import transaction

from mes.models import Notification
from mes.services.notifications import notify
from tests.mes.factories import UserFactory


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.xdist_group("celery-worker")
@pytest.mark.req("FND-NOT-001:email", "FND-AUD-001:task")
def test_the_worker_sends_the_email_after_commit(live_worker, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    person = UserFactory(username="celery1", email="celery1@example.com")
    with transaction.atomic():
        notification = notify(recipients=[person], subject="Worker test")[0]
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        notification.refresh_from_db()
        if notification.emailed_at:
            break
        time.sleep(0.2)
    assert notification.emailed_at is not None
    assert [m.subject for m in mail.outbox] == ["[MES] Worker test"]
    latest = Notification.history.filter(id=notification.pk).first()
    assert latest.history_user.username == "system"
