"""Site configuration by an Administrator, and lifting a lockout."""

import pytest
from django.urls import reverse

from mes.models import SecurityEvent, Site
from mes.services import security, sites
from tests.refusals import refused


@pytest.mark.req("FND-SITE-001:create-change", "FND-AUD-002:page")
def test_an_administrator_creates_and_changes_a_site_with_a_reason(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("site-create"), {
        "code": "ams2", "name": "Amsterdam 2", "kind": "plant", "time_zone": "Europe/Amsterdam",
        "facility_identification_number": "A9999", "is_active": "on"})
    assert response.status_code == 302
    site = Site.objects.get(code="AMS2")
    assert admin_user.has_site(site)
    url = reverse("site-edit", args=[site.pk])
    refused = client.post(url, {"name": "Amsterdam Two", "kind": "plant",
                                "time_zone": "Europe/Amsterdam", "is_active": "on",
                                "facility_identification_number": "A9999", "reason": ""})
    assert refused.status_code == 400
    assert Site.objects.get(pk=site.pk).name == "Amsterdam 2"
    client.post(url, {"name": "Amsterdam Two", "kind": "plant", "time_zone": "Europe/Amsterdam",
                      "is_active": "on", "facility_identification_number": "A9999",
                      "reason": "Official name"})
    assert Site.objects.get(pk=site.pk).name == "Amsterdam Two"
    assert site.history.first().history_change_reason == "Official name"


@pytest.mark.req("FND-SITE-001:time-zone")
def test_a_bad_time_zone_is_a_clear_error_and_writes_nothing(db, admin_user):
    with refused("invalid", field="time_zone"):
        sites.create_site(actor=admin_user, code="TZ1", name="x", kind="plant",
                          time_zone="Mars/Olympus")
    assert not Site.objects.filter(code="TZ1").exists()


@pytest.mark.req("FND-SCOPE-001:page", "FND-SCOPE-001:service")
def test_an_administrator_cannot_edit_another_sites_configuration(client, admin_user,
                                                                  other_site):
    client.force_login(admin_user)
    assert client.get(reverse("site-edit", args=[other_site.pk])).status_code == 404
    with refused("permission_denied"):
        sites.update_site(actor=admin_user, site=other_site, reason="x", name="Mine")


def _lock(client, username):
    for _ in range(5):
        client.post(reverse("login"), {"username": username, "password": "wrong"})


@pytest.mark.req("FND-SEC-002:unlock")
def test_an_administrator_unlocks_a_locked_account_with_a_reason(client, admin_user, operator,
                                                                 password):
    _lock(client, "op1")
    assert security.is_locked("op1")
    with refused("reason_required"):
        security.unlock_account(actor=admin_user, user=operator, reason=" ")
    client.force_login(admin_user)
    page = client.get(reverse("user-detail", args=[operator.pk])).content.decode()
    assert "Locked" in page
    client.post(reverse("user-unlock", args=[operator.pk]), {"reason": "Identity confirmed"})
    assert not security.is_locked("op1")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.UNLOCKED)
    assert "Identity confirmed" in event.detail and event.history.first().history_user == \
        admin_user
    client.logout()
    assert client.post(reverse("login"), {"username": "op1",
                                          "password": password}).status_code == 302


@pytest.mark.req("FND-SEC-002:unlock")
def test_nobody_unlocks_their_own_account(db, admin_user, client):
    _lock(client, "admin1")
    with refused("permission_denied"):
        security.unlock_account(actor=admin_user, user=admin_user, reason="Me")
    assert security.is_locked("admin1")


@pytest.mark.req("FND-AUD-005:csv")
def test_csv_export_neutralises_formulas(client, admin_user, site):
    from mes import audit

    site.name = "=HYPERLINK(\"http://evil\")"
    audit.stamp(site, user=admin_user, reason="+cmd")
    site.save()
    client.force_login(admin_user)
    url = reverse("audit-trail", args=["mes", "site", site.pk])
    body = client.get(url, {"format": "csv"}).content.decode()
    assert "'=HYPERLINK" in body and "'+cmd" in body
    assert ",=HYPERLINK" not in body


def test_site_today_is_the_date_where_the_site_is_not_the_utc_date():
    import datetime as dt

    from mes.models import Site
    from mes.services.sites import site_today

    late_utc = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    assert site_today(Site(time_zone="UTC"), late_utc) == dt.date(2026, 11, 30)
    assert site_today(Site(time_zone="Europe/Berlin"), late_utc) == dt.date(2026, 12, 1)
    assert site_today(Site(time_zone="America/New_York"), late_utc) == dt.date(2026, 11, 30)
