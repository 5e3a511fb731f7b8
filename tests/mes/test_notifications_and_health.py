"""Notifications (inbox, badge, e-mail after commit), /health/, the demo loader."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from mes.models import AccessChange, ElectronicSignature, Notification, Site, User
from mes.services.notifications import mark_read, notify
from mes.tasks import record_worker_heartbeat

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.req("FND-NOT-001:inbox", "FND-NOT-001:email")
def test_notify_fills_the_inbox_and_emails_after_commit(db, operator, qa_user,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = notify(recipients=[operator, qa_user, operator], subject="Lot expires",
                         body="Lot L-1 expires in 3 days", link="/reagents/")
    assert len(created) == 2  # one per person, however often named
    assert mail.outbox == []  # nothing is sent before the transaction commits
    for callback in callbacks:
        callback()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([operator.email, qa_user.email])
    assert all(n.emailed_at for n in Notification.objects.all())


@pytest.mark.req("FND-NOT-001:email")
def test_an_email_is_never_sent_twice(db, operator, django_capture_on_commit_callbacks):
    from mes.tasks import send_notification_emails

    with django_capture_on_commit_callbacks(execute=True):
        created = notify(recipients=[operator], subject="Once")
    send_notification_emails.apply(args=[[created[0].pk]])
    assert len(mail.outbox) == 1


@pytest.mark.req("FND-NOT-001:badge")
def test_the_badge_counts_unread_and_reading_clears_it(client, operator):
    notify(recipients=[operator], subject="One", email=False)
    notify(recipients=[operator], subject="Two", email=False)
    client.force_login(operator)
    badge = client.get(reverse("inbox-badge"), HTTP_X_MES_BACKGROUND="1")
    assert ">2<" in badge.content.decode()
    assert "One" in client.get(reverse("inbox")).content.decode()
    assert mark_read(user=operator) == 2
    badge = client.get(reverse("inbox-badge"), HTTP_X_MES_BACKGROUND="1")
    assert "badge" not in badge.content.decode()


@pytest.mark.req("FND-RUN-003:worker")
def test_health_is_503_without_a_worker_and_200_with_one(client, operator, settings):
    client.force_login(operator)
    settings.REDIS_URL = ""
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["celery_worker"]["ok"] is False
    record_worker_heartbeat.apply()
    response = client.get(reverse("health"))
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


@pytest.mark.req("FND-RUN-003:redis")
def test_health_is_503_when_redis_does_not_answer(client, operator, settings):
    client.force_login(operator)
    record_worker_heartbeat.apply()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


@pytest.mark.req("FND-RUN-003:database")
def test_health_is_503_when_the_database_does_not_answer(client, operator, monkeypatch):
    from django.db import OperationalError

    from mes.views import shell

    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

    client.force_login(operator)
    record_worker_heartbeat.apply()
    monkeypatch.setattr(shell, "connection", Unreachable())
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "detail": "OperationalError"}


@pytest.mark.req("FND-SEC-007:health-anonymous")
def test_an_anonymous_health_check_gets_only_up_or_down(client, db, settings):
    from django.core.cache import cache

    cache.clear()  # no heartbeat left by an earlier test
    settings.REDIS_URL = ""
    response = client.get(reverse("health"))
    assert (response.status_code, response.json()) == (503, {"status": "down"})
    record_worker_heartbeat.apply()
    response = client.get(reverse("health"))
    assert (response.status_code, response.json()) == (200, {"status": "up"})


@pytest.mark.req("FND-RUN-004:idempotent", "FND-RUN-004:signed-access")
def test_the_demo_loader_is_idempotent(db):
    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    counts = (User.objects.count(), Site.objects.count(), AccessChange.objects.count(),
              ElectronicSignature.objects.count())
    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert counts == (User.objects.count(), Site.objects.count(),
                      AccessChange.objects.count(), ElectronicSignature.objects.count())
    roles = {u.username: u.role_names() for u in User.objects.exclude(username="system")}
    assert roles["qp"] == ["Qualified Person"] and roles["admin"] == ["Administrator"]
    signed = ElectronicSignature.objects.filter(
        content_type=ContentType.objects.get_for_model(AccessChange))
    assert AccessChange.objects.count() == signed.count()


@pytest.mark.req("FND-RUN-004:content")
def test_the_demo_data_holds_a_plant_a_cmo_a_clinical_site_and_one_person_per_role(db):
    from mes.roles import ROLES

    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert {Site.Kind.PLANT, Site.Kind.CMO, Site.Kind.CLINICAL} <= set(
        Site.objects.values_list("kind", flat=True))
    people = User.objects.exclude(username="system").filter(is_active=True)
    for role in ROLES:
        assert people.filter(groups__name=role).exists(), f"no demo person is a {role}"


def _deploy_check(**overrides) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "mes.example.org",
           "SECRET_KEY": "p" * 20 + "-production-secret-with-enough-entropy-9f8e7d6c5b4a"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests only
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.req("FND-RUN-002", "FND-SEC-003:production")
def test_production_settings_pass_the_deploy_check():
    result = _deploy_check()
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.req("FND-RUN-002")
def test_the_deploy_check_fails_on_insecure_settings():
    result = _deploy_check(DEBUG="1")
    assert result.returncode != 0
    assert "DEBUG" in result.stdout + result.stderr


@pytest.mark.req("FND-UI-001:navigation", "FND-NOT-001:badge")
def test_app_badges_are_polled_in_the_background_from_the_top_bar(client, qa_user, operator):
    client.force_login(qa_user)
    page = client.get(reverse("home")).content.decode()
    assert 'class="nav-badge" hx-get="/deviations/badge/"' in page
    assert '"X-MES-Background": "1"' in page
    client.force_login(operator)  # no board permission, no board badge
    assert "/deviations/badge/" not in client.get(reverse("home")).content.decode()
