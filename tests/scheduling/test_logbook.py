"""Equipment and room logbooks: append-only, attributed, signed where they release."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from mes import audit
from mes.models import ElectronicSignature
from mes.services.signatures import signatures_for
from scheduling import services
from scheduling.models import Equipment, LogbookEntry, Suite
from tests.refusals import refused


@pytest.mark.req("SCH-LOG-001")
def test_a_logbook_entry_cannot_be_rewritten_or_removed_with_sql(world):
    entry = services.record_use(
        actor=world.op_a, equipment=world.reactor, batch_number="LEI-26-0001"
    )
    for sql in (
        "UPDATE scheduling_logbookentry SET text = 'nothing' WHERE id = %s",
        "DELETE FROM scheduling_logbookentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [entry.pk])
    assert LogbookEntry.objects.get(pk=entry.pk).text == "Used for batch LEI-26-0001"


@pytest.mark.req("SCH-LOG-003")
def test_a_use_names_the_batch_and_leaves_the_equipment_dirty(world):
    entry = services.record_use(
        actor=world.op_a,
        equipment=world.reactor,
        batch_number="LEI-26-0001",
        patient_coi="G123426000101",
    )
    assert (
        entry.kind,
        entry.recorded_by,
        entry.batch_number,
        entry.patient_coi,
        entry.suite,
        entry.from_status,
        entry.to_status,
    ) == ("use", world.op_a, "LEI-26-0001", "G123426000101", world.suite, "clean", "dirty")
    world.reactor.refresh_from_db()
    assert world.reactor.cleaning_status == Equipment.Cleaning.DIRTY
    assert world.reactor.history.first().history_user == world.op_a
    # dirty equipment cannot be used again before it is cleaned
    with refused("equipment_not_usable", match="not clean"):
        services.record_use(actor=world.op_a, equipment=world.reactor, batch_number="B2")
    assert LogbookEntry.objects.filter(equipment=world.reactor).count() == 1


@pytest.mark.req("SCH-LOG-003")
def test_equipment_past_calibration_or_clean_hold_or_out_of_service_cannot_be_used(world):
    world.reactor.calibration_due = timezone.localdate() - dt.timedelta(days=1)
    audit.stamp(world.reactor, user=world.admin, reason="Test: calibration lapsed")
    world.reactor.save()
    with refused("equipment_not_usable", match="calibration was due"):
        services.record_use(actor=world.op_a, equipment=world.reactor, batch_number="B1")
    world.separator.clean_until = timezone.now() - dt.timedelta(minutes=1)
    audit.stamp(world.separator, user=world.admin, reason="Test: clean hold over")
    world.separator.save()
    with refused("equipment_not_usable", match="clean hold expired"):
        services.record_use(actor=world.op_a, equipment=world.separator, batch_number="B1")
    assert not LogbookEntry.objects.filter(kind="use").exists()


@pytest.mark.req("SCH-LOG-002")
def test_cleaning_releases_the_equipment_with_a_signature(world, password):
    services.record_use(actor=world.op_a, equipment=world.reactor, batch_number="B1")
    until = timezone.now() + dt.timedelta(hours=72)
    # an operator may not release it; a wrong password writes nothing
    with refused("permission_denied"):
        services.record_cleaning(
            actor=world.op_a,
            password=password,
            equipment=world.reactor,
            clean_until=until,
            text="Cleaned per SOP-CL-3",
        )
    with refused("wrong_password"):
        services.record_cleaning(
            actor=world.supervisor,
            password="nope",
            equipment=world.reactor,
            clean_until=until,
            text="Cleaned per SOP-CL-3",
        )
    assert LogbookEntry.objects.filter(kind="cleaning").count() == 0
    entry = services.record_cleaning(
        actor=world.supervisor,
        password=password,
        equipment=world.reactor,
        clean_until=until,
        text="Cleaned per SOP-CL-3",
    )
    world.reactor.refresh_from_db()
    assert (world.reactor.cleaning_status, world.reactor.clean_until) == ("clean", until)
    [signature] = signatures_for(entry)
    assert (signature.signer, signature.meaning) == (world.supervisor, "released")
    assert entry.releases


@pytest.mark.req("SCH-LOG-002")
def test_calibration_and_return_to_service_are_signed_releases(world, password):
    due = timezone.localdate() + dt.timedelta(days=365)
    services.record_calibration(
        actor=world.supervisor,
        password=password,
        equipment=world.reactor,
        next_due=due,
        text="Calibrated, certificate CAL-2026-88",
    )
    world.reactor.refresh_from_db()
    assert world.reactor.calibration_due == due
    services.change_equipment_status(
        actor=world.op_a, equipment=world.reactor, status="out_of_service", reason="Door seal worn"
    )
    services.record_maintenance(
        actor=world.op_a, equipment=world.reactor, text="Door seal replaced"
    )
    with refused("permission_denied"):
        services.change_equipment_status(
            actor=world.op_a,
            equipment=world.reactor,
            status="in_service",
            reason="Repaired",
            password=password,
        )
    back = services.change_equipment_status(
        actor=world.supervisor,
        equipment=world.reactor,
        status="in_service",
        reason="Repaired, tested",
        password=password,
    )
    kinds = list(
        LogbookEntry.objects.filter(equipment=world.reactor).values_list("kind", "releases")
    )
    assert kinds == [
        ("calibration", True),
        ("status_change", False),
        ("maintenance", False),
        ("status_change", True),
    ]
    assert ElectronicSignature.objects.count() == 2
    assert signatures_for(back)[0].meaning == "released"


@pytest.mark.req("SCH-LOG-002")
def test_a_suite_made_available_again_is_a_signed_release_in_the_room_logbook(world, password):
    services.change_suite_status(
        actor=world.supervisor, suite=world.suite, status="on_hold", reason="Leak above the ceiling"
    )
    with refused("wrong_password"):
        services.change_suite_status(
            actor=world.supervisor,
            suite=world.suite,
            status="available",
            reason="Leak fixed",
            password="x",
        )
    assert Suite.objects.get(pk=world.suite.pk).status == "on_hold"
    entry = services.change_suite_status(
        actor=world.supervisor,
        suite=world.suite,
        status="available",
        reason="Leak fixed",
        password=password,
    )
    assert (entry.equipment, entry.from_status, entry.to_status) == (None, "on_hold", "available")
    assert signatures_for(entry)[0].signer == world.supervisor


@pytest.mark.req("SCH-RSC-001")
def test_scheduling_records_are_never_deleted_and_changes_need_a_reason(world):
    from mes.errors import ReasonForChangeRequired, RecordDeletionRefused

    with pytest.raises(RecordDeletionRefused):
        world.suite.delete()
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    with pytest.raises(RecordDeletionRefused):
        booking.delete()
    booking.lane = 1
    with pytest.raises(ReasonForChangeRequired):
        booking.save()
    assert world.suite.history.first().history_user == world.admin


@pytest.mark.req("SCH-LOG-004")
def test_retiring_equipment_needs_the_release_right_and_a_signature(world, password):
    with refused("permission_denied"):
        services.change_equipment_status(
            actor=world.op_a, equipment=world.reactor, status="retired", reason="Worn out"
        )
    with refused("wrong_password"):
        services.change_equipment_status(
            actor=world.supervisor,
            equipment=world.reactor,
            status="retired",
            reason="Worn out",
            password="wrong",
        )
    world.reactor.refresh_from_db()
    assert world.reactor.status == Equipment.Status.IN_SERVICE
    assert not LogbookEntry.objects.exists() and not ElectronicSignature.objects.exists()
    entry = services.change_equipment_status(
        actor=world.supervisor,
        equipment=world.reactor,
        status="retired",
        reason="Worn out; replaced by BR-02",
        password=password,
    )
    world.reactor.refresh_from_db()
    assert world.reactor.status == Equipment.Status.RETIRED
    signature = ElectronicSignature.objects.get()
    assert (signature.object_id, signature.signer, signature.meaning) == (
        entry.pk,
        world.supervisor,
        "approved",
    )


@pytest.mark.req("SCH-LOG-005")
def test_equipment_left_in_use_is_dirty_once_its_use_is_finished(world):
    services.record_use(
        actor=world.op_a, equipment=world.reactor, batch_number="LEI-26-0001", finished=False
    )
    world.reactor.refresh_from_db()
    assert world.reactor.cleaning_status == Equipment.Cleaning.IN_USE
    entry = services.finish_use(actor=world.op_a, equipment=world.reactor)
    world.reactor.refresh_from_db()
    assert world.reactor.cleaning_status == Equipment.Cleaning.DIRTY
    assert (entry.kind, entry.batch_number, entry.from_status, entry.to_status) == (
        "use",
        "LEI-26-0001",
        "in_use",
        "dirty",
    )
    # equipment not in use has no use to finish
    with refused("equipment_not_in_use"):
        services.finish_use(actor=world.op_a, equipment=world.reactor)
    assert LogbookEntry.objects.filter(equipment=world.reactor).count() == 2


@pytest.mark.req("SCH-LOG-002")
def test_retired_equipment_is_not_calibrated(world, password):
    services.change_equipment_status(
        actor=world.supervisor,
        equipment=world.reactor,
        status="retired",
        reason="Worn out",
        password=password,
    )
    due = world.reactor.calibration_due
    with refused("equipment_retired"):
        services.record_calibration(
            actor=world.supervisor,
            password=password,
            equipment=world.reactor,
            next_due=due + dt.timedelta(days=365),
            text="Calibrated, certificate C-1",
        )
    world.reactor.refresh_from_db()
    assert world.reactor.calibration_due == due
    assert not LogbookEntry.objects.filter(kind="calibration").exists()


@pytest.mark.req("SCH-LOG-002")
def test_a_suite_with_bookings_to_come_is_not_retired(world):
    services.book(actor=world.planner, order=world.order, suite=world.suite)
    with refused("suite_has_bookings"):
        services.change_suite_status(
            actor=world.supervisor, suite=world.suite, status="retired", reason="Closing"
        )
    world.suite.refresh_from_db()
    assert world.suite.status == Suite.Status.AVAILABLE
    assert not LogbookEntry.objects.filter(kind="status_change").exists()
