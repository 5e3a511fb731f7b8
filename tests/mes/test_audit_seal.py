"""The sealed audit trail: what a database owner changes, removes or back-dates after sealing
is found by verify_audit_trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from mes.models import AuditSeal, AuditSealLeaves, IntegrityRun, SecurityEvent, Site
from mes.services.sealing import seal_audit_trail, sealed_models
from mes.services.verification import verify_audit_trail
from tests.mes.factories import SiteFactory
from tests.mes.integrity_helpers import owner_sql


def _kinds(findings) -> list[tuple[str, str, int | None]]:
    return sorted((f.kind, f.table, f.pk) for f in findings)


def _event(**kwargs) -> SecurityEvent:
    return SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOGIN_FAILED,
                                        username=kwargs.pop("username", "mallory"), **kwargs)


@pytest.fixture
def sealed(db, admin_user):
    """Sites and security events written, then sealed."""
    sites = [SiteFactory(code=f"S{i}", name=f"Site {i}") for i in range(3)]
    events = [_event(username=f"user{i}") for i in range(3)]
    seal = seal_audit_trail(user=admin_user)
    return {"sites": sites, "events": events, "seal": seal}


@pytest.mark.req("FND-SEAL-001:seal")
def test_a_seal_covers_every_new_append_only_row_and_verifies_clean(sealed, admin_user):
    seal = sealed["seal"]
    assert seal.number == 1 and seal.previous_hash == ""
    assert seal.manifest["mes_securityevent"]["rows"] == 3
    assert seal.manifest["mes_historicalsite"]["rows"] >= 3
    assert AuditSealLeaves.objects.filter(seal=seal).count() == len(seal.manifest)
    assert list(verify_audit_trail()) == []
    # and a run with nothing new makes no seal
    assert seal_audit_trail(user=admin_user) is None


@pytest.mark.req("FND-SEAL-001:chain")
def test_seals_chain_and_each_covers_only_what_came_after(sealed, admin_user):
    _event(username="later")
    second = seal_audit_trail(user=admin_user)
    assert second.number == 2 and second.previous_hash == sealed["seal"].seal_hash
    assert second.manifest["mes_securityevent"]["rows"] == 1
    assert list(verify_audit_trail()) == []


@pytest.mark.req("FND-SEAL-001:row-changed")
def test_a_sealed_row_changed_by_the_owner_is_reported(sealed):
    event = sealed["events"][1]
    owner_sql("UPDATE mes_securityevent SET username = %s WHERE id = %s", ["nobody", event.pk],
              tables=("mes_securityevent",))
    assert _kinds(verify_audit_trail()) == [("row_changed", "mes_securityevent", event.pk)]


@pytest.mark.req("FND-SEAL-001:row-changed")
def test_a_sealed_history_row_changed_by_the_owner_is_reported(sealed):
    site = sealed["sites"][0]
    history_id = Site.history.filter(id=site.pk).values_list("history_id", flat=True).first()
    owner_sql("UPDATE mes_historicalsite SET name = %s WHERE history_id = %s",
              ["Forged", history_id], tables=("mes_historicalsite",))
    assert _kinds(verify_audit_trail()) == [("row_changed", "mes_historicalsite", history_id)]


@pytest.mark.req("FND-SEAL-001:row-deleted")
def test_a_sealed_row_deleted_by_the_owner_is_reported(sealed):
    event = sealed["events"][0]
    owner_sql("DELETE FROM mes_securityevent WHERE id = %s", [event.pk],
              tables=("mes_securityevent",))
    assert _kinds(verify_audit_trail()) == [("row_deleted", "mes_securityevent", event.pk)]


@pytest.mark.req("FND-SEAL-001:back-dated")
def test_a_back_dated_row_is_reported_when_the_next_seal_covers_it(sealed, admin_user, settings):
    # given a seal; when a row claiming to be from yesterday is written and sealed next
    forged = _event(username="forged", occurred_at=timezone.now() - timedelta(days=1))
    seal_audit_trail(user=admin_user)
    # then it is reported as back-dated (its history row, written now, is not)
    assert _kinds(verify_audit_trail()) == [("row_backdated", "mes_securityevent", forged.pk)]


@pytest.mark.req("FND-SEAL-001:row-inserted")
def test_a_row_inserted_into_a_sealed_range_is_reported(db, admin_user, settings):
    # given rows 1 and 3 of a range sealed with a gap at 2, and the gap window passed
    first = _event(username="a")
    gap = first.pk + 1
    owner_sql("INSERT INTO mes_securityevent (id, kind, username, ip_address, user_agent, "
              "detail, occurred_at) VALUES (%s, 'login_failed', 'b', '', '', '', %s)",
              [gap + 1, timezone.now()])
    seal_audit_trail(user=admin_user)
    settings.AUDIT_SEAL_GAP_WINDOW_MINUTES = -1
    # when the owner fills the gap afterwards
    owner_sql("INSERT INTO mes_securityevent (id, kind, username, ip_address, user_agent, "
              "detail, occurred_at) VALUES (%s, 'login_failed', 'c', '', '', '', %s)",
              [gap, timezone.now()])
    seal_audit_trail(user=admin_user)
    # then the row that no seal covers is reported
    assert ("row_inserted_after_sealing", "mes_securityevent", gap) in _kinds(verify_audit_trail())


@pytest.mark.req("FND-SEAL-001:seal")
def test_a_transaction_that_commits_late_is_sealed_by_the_next_seal(db, admin_user):
    # given a seal with a gap (a transaction still open when it was made)
    first = _event(username="a")
    gap = first.pk + 1
    owner_sql("INSERT INTO mes_securityevent (id, kind, username, ip_address, user_agent, "
              "detail, occurred_at) VALUES (%s, 'login_failed', 'b', '', '', '', %s)",
              [gap + 1, timezone.now()])
    seal_audit_trail(user=admin_user)
    # when the late row arrives within the gap window
    owner_sql("INSERT INTO mes_securityevent (id, kind, username, ip_address, user_agent, "
              "detail, occurred_at) VALUES (%s, 'login_failed', 'c', '', '', '', %s)",
              [gap, timezone.now()])
    second = seal_audit_trail(user=admin_user)
    # then the next seal covers it as late, and everything verifies
    assert second.manifest["mes_securityevent"]["late"] == 1
    assert list(verify_audit_trail()) == []


@pytest.mark.req("FND-SEAL-001:seal-changed")
def test_a_changed_seal_is_reported(sealed):
    seal = sealed["seal"]
    owner_sql("UPDATE mes_auditseal SET row_count = row_count + 1 WHERE id = %s", [seal.pk],
              tables=("mes_auditseal",))
    assert [f.kind for f in verify_audit_trail()] == ["seal_changed"]


@pytest.mark.req("FND-SEAL-001:seal-changed")
def test_changed_leaves_are_reported(sealed):
    leaves = AuditSealLeaves.objects.get(seal=sealed["seal"], table="mes_securityevent")
    owner_sql("UPDATE mes_auditsealleaves SET runs = %s WHERE id = %s", ["[]", leaves.pk],
              tables=("mes_auditsealleaves",))
    kinds = {f.kind for f in verify_audit_trail()}
    assert "seal_leaves_changed" in kinds


@pytest.mark.req("FND-SEAL-001:seal-key")
def test_a_seal_signed_with_another_key_is_reported(sealed, settings, tmp_path):
    settings.AUDIT_SEAL_KEY_FILE = str(tmp_path / "another-installation.pem")
    assert [f.kind for f in verify_audit_trail()] == ["seal_signature_invalid"]


@pytest.mark.req("FND-SEAL-001:seal-removed")
def test_a_removed_seal_is_reported(sealed, admin_user):
    _event(username="x")
    seal_audit_trail(user=admin_user)
    _event(username="y")
    third = seal_audit_trail(user=admin_user)
    second = AuditSeal.objects.get(number=2)
    owner_sql("DELETE FROM mes_auditsealleaves WHERE seal_id = %s", [second.pk],
              tables=("mes_auditsealleaves",))
    owner_sql("DELETE FROM mes_auditseal WHERE id = %s", [second.pk], tables=("mes_auditseal",))
    kinds = {f.kind for f in verify_audit_trail()}
    assert {"seal_missing", "seal_chain_broken", "row_inserted_after_sealing"} <= kinds
    assert third.number == 3


@pytest.mark.req("FND-SEAL-001:command")
def test_the_command_reports_findings_and_fails(sealed, capsys):
    call_command("verify_audit_trail")
    assert IntegrityRun.objects.get().finding_count == 0
    event = sealed["events"][2]
    owner_sql("UPDATE mes_securityevent SET detail = 'x' WHERE id = %s", [event.pk],
              tables=("mes_securityevent",))
    with pytest.raises(CommandError) as failed:
        call_command("verify_audit_trail")
    assert "1 findings" in str(failed.value)
    assert f"mes_securityevent row {event.pk} was changed" in capsys.readouterr().out
    run = IntegrityRun.objects.order_by("-pk").first()
    assert run.finding_count == 1 and run.findings[0]["kind"] == "row_changed"


@pytest.mark.req("FND-SEAL-001:seal")
def test_the_seal_covers_every_append_only_table_but_its_own():
    tables = {m._meta.db_table for m in sealed_models()}
    assert "deviations_escalationevent" in tables and "mes_historicaluser" in tables
    assert "mes_auditseal" not in tables and "mes_integrityrun" in tables


@pytest.mark.req("FND-SEAL-001:append-only")
def test_seals_are_append_only(sealed):
    from tests.mes.test_append_only import _refused

    assert _refused("UPDATE mes_auditseal SET row_count = 0 WHERE id = %s", [sealed["seal"].pk])
    assert _refused("DELETE FROM mes_auditsealleaves", [])


@pytest.mark.req("FND-SEAL-001:seal")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_make_one_seal(admin_user):
    import threading

    from django.db import connections

    SiteFactory(code="C1")
    results, barrier = [], threading.Barrier(2)

    def seal():
        barrier.wait()
        try:
            results.append(seal_audit_trail(user=admin_user))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=seal) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert AuditSeal.objects.count() == 1
    assert list(verify_audit_trail()) == []
