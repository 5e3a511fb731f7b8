"""The integrity check: live rows against their history, signatures against their records,
the seals, and stock against its ledger. A finding is a security event, tells QA and raises a
deviation at each manufacturing site."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deviations.models import Deviation
from mes.models import IntegrityRun, Meaning, Notification, SecurityEvent
from mes.services.integrity import run_integrity_check
from mes.services.sealing import seal_audit_trail
from mes.services.signatures import apply_signature
from tests.mes.factories import SiteFactory
from tests.mes.integrity_helpers import owner_sql
from tests.mes.test_signatures import make_access_change


def _kinds(run: IntegrityRun) -> list[tuple[str, str]]:
    return sorted((f["kind"], f["table"]) for f in run.findings)


@pytest.mark.req("FND-INT-001:changed", "FND-INT-001:inserted")
def test_a_clean_database_has_no_findings_and_raises_nothing(db, admin_user, qa_user, site):
    run = run_integrity_check(user=admin_user)
    assert run.finding_count == 0 and run.rows_checked > 0
    assert not SecurityEvent.objects.filter(kind="integrity_finding").exists()
    assert not Deviation.objects.exists()


@pytest.mark.req("FND-INT-001:changed")
def test_a_live_row_changed_without_history_is_found(db, admin_user, site):
    # when the owner renames a site with raw SQL, leaving no history
    owner_sql("UPDATE mes_site SET name = 'Renamed quietly' WHERE id = %s", [site.pk])
    run = run_integrity_check(user=admin_user)
    # then the check finds the difference from its latest history, on that row
    assert _kinds(run) == [("row_differs_from_history", "mes_site")]
    assert run.findings[0]["pk"] == site.pk and "name" in run.findings[0]["detail"]


@pytest.mark.req("FND-INT-001:inserted")
def test_a_live_row_inserted_without_history_is_found(db, admin_user):
    owner_sql("INSERT INTO mes_site (code, name, kind, time_zone, "
              "facility_identification_number, is_active) "
              "VALUES ('SNEAK', 'Sneaky', 'plant', 'UTC', 'W9999', true)")
    run = run_integrity_check(user=admin_user)
    assert _kinds(run) == [("row_without_history", "mes_site")]


@pytest.mark.req("FND-INT-002")
def test_a_broken_signature_is_found(db, admin_user, operator):
    change = make_access_change(admin_user, operator)
    signature = apply_signature(signer=admin_user, record=change, meaning=Meaning.APPROVED)
    # the owner changes the signed record and its history alike, so only the signature knows
    owner_sql("UPDATE mes_accesschange SET reason = 'Forged' WHERE id = %s", [change.pk])
    owner_sql("UPDATE mes_historicalaccesschange SET reason = 'Forged' WHERE id = %s",
              [change.pk], tables=("mes_historicalaccesschange",))
    run = run_integrity_check(user=admin_user)
    assert _kinds(run) == [("signature_broken", "mes_electronicsignature")]
    assert run.findings[0]["pk"] == signature.pk


@pytest.mark.req("FND-INT-003")
def test_the_seals_are_verified_too(db, admin_user, site):
    seal_audit_trail(user=admin_user)
    owner_sql("UPDATE mes_historicalsite SET name = 'Forged' WHERE id = %s", [site.pk],
              tables=("mes_historicalsite",))
    run = run_integrity_check(user=admin_user)
    assert ("row_changed", "mes_historicalsite") in _kinds(run)


@pytest.mark.req("FND-INT-004")
def test_a_lot_whose_stock_differs_from_its_ledger_is_found(db, admin_user, site):
    from tests.reagents.factories import lot

    made = lot(site=site, quantity="10")
    owner_sql("UPDATE reagents_reagentlot SET quantity_on_hand = 7 WHERE id = %s", [made.pk])
    owner_sql("UPDATE reagents_historicalreagentlot SET quantity_on_hand = 7 WHERE id = %s",
              [made.pk], tables=("reagents_historicalreagentlot",))
    run = run_integrity_check(user=admin_user)
    assert _kinds(run) == [("stock_differs_from_ledger", "reagents_reagentlot")]
    assert "7" in run.findings[0]["detail"] and "10" in run.findings[0]["detail"]


@pytest.mark.req("FND-INT-005:event", "FND-INT-005:notify", "FND-INT-005:deviation")
def test_a_finding_is_a_security_event_tells_qa_and_raises_a_deviation(db, admin_user, qa_user,
                                                                       site):
    clinical = SiteFactory(code="CLIN1", kind="clinical")
    owner_sql("UPDATE mes_site SET name = 'Renamed quietly' WHERE id = %s", [clinical.pk])
    run = run_integrity_check(user=admin_user)
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.INTEGRITY_FINDING)
    assert "1 differences" in event.detail and "row_differs_from_history" in event.detail
    assert Notification.objects.filter(recipient=qa_user,
                                       subject__startswith="Data integrity").count() == 1
    # one critical deviation at each manufacturing site, none at the clinical one
    deviations = list(Deviation.objects.all())
    assert [d.site_id for d in deviations] == [site.pk]
    assert deviations[0].classification == "critical"
    assert deviations[0].rule == "mes.integrity_check"
    assert deviations[0].data["integrity_run"] == run.pk


@pytest.mark.req("FND-INT-006:schedule", "FND-INT-006:button", "FND-INT-006:permission",
                 "FND-SEAL-001:beat")
def test_the_check_runs_nightly_and_from_qas_button(db, client, qa_user, operator, settings):
    from celery.schedules import crontab

    entry = settings.CELERY_BEAT_SCHEDULE["integrity-check"]
    assert entry["task"] == "mes.tasks.run_integrity_check"
    assert isinstance(entry["schedule"], crontab)
    assert settings.CELERY_BEAT_SCHEDULE["seal-audit-trail"]["schedule"] == 60.0
    url = reverse("integrity-check")
    # an operator may not run it
    client.force_login(operator)
    assert client.post(url).status_code == 403
    assert not IntegrityRun.objects.exists()
    # QA runs it and sees the result on the security page
    client.force_login(qa_user)
    response = client.post(url, follow=True)
    assert response.status_code == 200
    run = IntegrityRun.objects.get()
    assert run.run_by == qa_user and run.kind == "integrity_check"
    assert b"Integrity check" in response.content and b"no differences" in response.content


@pytest.mark.req("FND-SEAL-002")
def test_the_security_page_shows_the_last_seal_and_the_last_verification(db, client, qa_user):
    import datetime as dt

    from django.core.management import call_command

    seal = seal_audit_trail(user=qa_user)
    call_command("verify_audit_trail")
    client.force_login(qa_user)
    page = client.get(reverse("security-events")).content.decode()
    assert f"Seal {seal.number}" in page and seal.seal_hash[:16] in page
    assert seal.sealed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") in page
    assert f"UTC</time>, {seal.row_count} rows, hash" in page
    assert "Audit-trail verification" in page and "no differences" in page


@pytest.mark.req("FND-INT-006:button")
def test_the_button_says_so_when_the_queue_does_not_answer(db, client, qa_user, monkeypatch):
    from kombu.exceptions import OperationalError

    from mes import tasks

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.run_integrity_check, "delay", down)
    client.force_login(qa_user)
    response = client.post(reverse("integrity-check"), follow=True)
    assert response.status_code == 200
    assert b"could not start" in response.content
    assert not IntegrityRun.objects.exists()
