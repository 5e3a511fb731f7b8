"""Opening a patient's batch record: on receipt of the apheresis material, from the effective
master version (pinned), numbered, with one step run per step, linked to the booking; the
later batches of a patient; every status change through the one transition table."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from batchrecords.models import (
    BATCH_TRANSITIONS,
    Batch,
    BatchStatus,
    MasterRecordVersion,
    StepRun,
)
from batchrecords.services import versions as lifecycle
from batchrecords.services.batches import (
    advance_batch,
    cancel_batch,
    move_batch,
    open_batch,
    open_on_receipt,
)
from custody.models import CustodyEvent
from custody.services.events import Handoff, record_custody_event
from mes import audit
from scheduling import services as scheduling
from tests.custody.factories import ProductFactory, order_for
from tests.mes.factories import person
from tests.refusals import refused
from tests.scheduling.factories import another_order

NUMBER = r"^PLANT1-B\d{4}-\d{5}$"


def receive(world, patient, actor=None) -> CustodyEvent:
    """The apheresis bag arrives at the plant: its label scanned, the receipt signed."""
    return record_custody_event(
        actor=actor or world.operator, password=world.password,
        handoff=Handoff(patient=patient, site=world.site, kind="received",
                        container_id="BAG-1", label_scan=patient.isbt.barcode_data))


def new_patient(world, initials="KB", number="H-0002", *, booked=True):
    order = another_order(world, initials=initials, hospital_number=number)
    if booked:
        start = timezone.localdate() + dt.timedelta(days=30)
        scheduling.book(actor=world.planner, order=order, suite=world.suite, start=start,
                        reason="Test: a later slot")
    return order.patient


def set_status(batch: Batch, status: str) -> Batch:
    """Test set-up: put the batch where the case needs it (as the services would have)."""
    batch = Batch.objects.get(pk=batch.pk)
    batch.status = status
    audit.stamp(batch, user=audit.system_user(), reason="Test: set up the status")
    batch.save()
    return batch


def snapshot(batch: Batch) -> tuple:
    batch = Batch.objects.get(pk=batch.pk)
    return (batch.status, batch.status_reason, batch.history.count(), Batch.objects.count())


# --- Opening on receipt --------------------------------------------------------------------
@pytest.mark.req("EBR-OPEN-001:on-receipt", "EBR-OPEN-001:runs", "EBR-OPEN-002:booking",
                 "EBR-OPEN-002:number")
def test_the_receipt_of_the_material_opens_the_patients_batch(world):
    patient = new_patient(world)
    booking = patient.order.bookings.get()
    receive(world, patient)
    batch = Batch.objects.get(patient=patient)
    assert (batch.version, batch.booking, batch.order, batch.site) == (
        world.version, booking, patient.order, world.site)
    assert (batch.status, batch.origin, batch.previous) == ("planned", "first", None)
    assert batch.opened_by == world.operator
    assert batch.number != world.batch.number
    assert re.match(NUMBER, batch.number)
    runs = list(batch.steps.order_by("sequence").values_list("step__code", "sequence", "stage"))
    # T01 and T02 share the parallel group PREP: one stage, either order
    assert runs == [("R01", 1, 1), ("S01", 2, 2), ("T01", 3, 3), ("T02", 4, 3), ("T03", 5, 4)]
    assert set(StepRun.objects.filter(batch=batch).values_list("status", "revision")) == {
        ("pending", 0)}
    assert batch.history.get().history_user == world.operator


@pytest.mark.req("EBR-OPEN-001:no-version")
def test_without_an_effective_version_the_receipt_succeeds_and_opens_nothing(world, caplog):
    other = ProductFactory(code="CART-22", name="Another CAR-T")
    order = order_for(world.planner, manufacturing_site=world.site,
                      ordering_site=world.clinical, product=other, initials="NV",
                      hospital_record_number="H-0099")
    with caplog.at_level(logging.WARNING, logger="batchrecords.services.batches"):
        event = receive(world, order.patient)
    assert CustodyEvent.objects.filter(pk=event.pk, kind="received").exists()
    assert not Batch.objects.filter(patient=order.patient).exists()
    assert any("No batch opened on receipt" in r.message and "no effective master" in r.message
               for r in caplog.records)


@pytest.mark.req("EBR-OPEN-001:once")
def test_a_second_receipt_opens_no_second_batch(world):
    patient = new_patient(world)
    receive(world, patient)
    batch = Batch.objects.get(patient=patient)
    receive(world, patient)
    assert list(Batch.objects.filter(patient=patient)) == [batch]
    assert open_on_receipt(actor=world.operator, patient=patient) is None
    assert StepRun.objects.filter(batch__patient=patient).count() == 5


@pytest.mark.req("EBR-OPEN-003")
def test_the_pinned_version_survives_a_newer_approval(world):
    v2 = lifecycle.new_version_from(actor=world.supervisor, source=world.version,
                                    change_summary="CC-2: longer incubation")
    lifecycle.submit_for_review(actor=world.supervisor, version=v2)
    lifecycle.approve_version(actor=world.qa, password=world.password, version=v2,
                              reason="Change control CC-2")
    batch = Batch.objects.get(pk=world.batch.pk)
    assert MasterRecordVersion.objects.get(pk=world.version.pk).status == "superseded"
    assert batch.version == world.version
    versions = set(StepRun.objects.filter(batch=batch)
                   .values_list("step__operation__version", flat=True))
    assert versions == {world.version.pk}
    # a batch opened now is made under v2
    patient = new_patient(world)
    receive(world, patient)
    later = Batch.objects.get(patient=patient)
    assert later.version == v2
    assert set(StepRun.objects.filter(batch=later)
               .values_list("step__operation__version", flat=True)) == {v2.pk}


@pytest.mark.req("EBR-OPEN-001:by-hand")
def test_a_first_batch_is_opened_by_hand_only_after_the_receipt(world):
    patient = new_patient(world)
    with refused("material_not_received", match="not been received"):
        open_batch(actor=world.supervisor, patient=patient)
    assert not Batch.objects.filter(patient=patient).exists()
    with audit.acting_as(world.operator):
        # the receipt happened while no batch could be opened (a broken signal, say)
        event = CustodyEvent.objects.create(
            patient=patient, site=world.site, kind="received", performed_by=world.operator,
            container_id="BAG-1", label_scan=patient.isbt.barcode_data)
    assert event.pk
    with refused("permission_denied"):
        open_batch(actor=world.operator, patient=patient)
    batch = open_batch(actor=world.supervisor, patient=patient, reason="Opened by hand")
    assert (batch.opened_by, batch.origin, batch.status) == (world.supervisor, "first",
                                                             "planned")
    with refused("already_opened"):
        open_batch(actor=world.supervisor, patient=patient)


# --- One batch in the making per patient; later batches -----------------------------------
@pytest.mark.req("EBR-OPEN-004:one-active")
def test_a_patient_has_one_batch_in_the_making_also_in_the_database(world):
    with refused("batch_in_progress", match=world.batch.number):
        open_batch(actor=world.supervisor, patient=world.patient, origin="remanufacture",
                   previous=world.batch, reason="Transduction failed")
    assert Batch.objects.filter(patient=world.patient).count() == 1
    copy = Batch(site=world.site, patient=world.patient, order=world.batch.order,
                 version=world.version, number="PLANT1-B0000-99999", opened_by=world.supervisor,
                 origin="remanufacture", previous=world.batch, origin_reason="Direct")
    audit.stamp(copy, user=world.supervisor, reason="Test: bypass the service")
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
    assert Batch.objects.filter(patient=world.patient).count() == 1


@pytest.mark.req("EBR-OPEN-004:one-active")
@pytest.mark.parametrize("status", ["in_progress", "executed", "under_review", "reviewed"])
def test_no_later_batch_while_the_previous_one_is_not_finished(world, status):
    set_status(world.batch, status)
    with refused("batch_in_progress", match="released, rejected or cancelled"):
        open_batch(actor=world.supervisor, patient=world.patient, origin="remanufacture",
                   previous=world.batch, reason="Expansion failed")
    assert Batch.objects.filter(patient=world.patient).count() == 1


@pytest.mark.req("EBR-OPEN-004:follow-up")
@pytest.mark.parametrize("finished", ["rejected", "cancelled", "released"])
@pytest.mark.parametrize("origin", ["remanufacture", "second_apheresis"])
def test_a_later_batch_follows_a_finished_one_with_a_reason(world, finished, origin):
    set_status(world.batch, finished)
    later = open_batch(actor=world.supervisor, patient=world.patient, origin=origin,
                       previous=world.batch, reason="Viability below the action limit")
    assert (later.origin, later.previous, later.origin_reason) == (
        origin, world.batch, "Viability below the action limit")
    assert (later.patient, later.order, later.version) == (
        world.patient, world.batch.order, world.version)
    assert later.steps.count() == 5 and later.number != world.batch.number
    assert later.history.get().history_change_reason == "Viability below the action limit"


@pytest.mark.req("EBR-OPEN-004:follow-up")
def test_a_later_batch_needs_a_reason_and_this_patients_latest_batch(world):
    set_status(world.batch, "rejected")
    before = Batch.objects.count()
    with refused("reason_required", field="reason"):
        open_batch(actor=world.supervisor, patient=world.patient, origin="remanufacture",
                   previous=world.batch, reason="  ")
    with refused("invalid", field="previous"):
        open_batch(actor=world.supervisor, patient=world.patient, origin="remanufacture",
                   previous=None, reason="Failed")
    other = new_patient(world, booked=False)
    receive(world, other)
    with refused("invalid", field="previous"):
        open_batch(actor=world.supervisor, patient=world.patient, origin="remanufacture",
                   previous=Batch.objects.get(patient=other), reason="Failed")
    with refused("already_opened"):
        open_batch(actor=world.supervisor, patient=world.patient, reason="Again")
    before = Batch.objects.count()
    second = open_batch(actor=world.supervisor, patient=world.patient, origin="remanufacture",
                        previous=world.batch, reason="Failed")
    set_status(second, "cancelled")
    with refused("invalid", match=second.number, field="previous"):
        open_batch(actor=world.supervisor, patient=world.patient, origin="second_apheresis",
                   previous=world.batch, reason="New cells")
    assert Batch.objects.count() == before + 1


@pytest.mark.req("EBR-OPEN-005")
def test_another_sites_patient_or_batch_is_not_found(world, other_site):
    far = person("Supervisor", sites=[other_site], username="super-far")
    far_qa = person("QA Reviewer", sites=[other_site], username="qa-far")
    set_status(world.batch, "rejected")
    before = snapshot(world.batch)
    with refused("not_found"):
        open_batch(actor=far, patient=world.patient, origin="remanufacture",
                   previous=world.batch, reason="Failed")
    for who in (far, far_qa):
        with refused("not_found"):
            cancel_batch(actor=who, batch=world.batch, reason="Not ours")
    assert snapshot(world.batch) == before


# --- Status changes through the one table ---------------------------------------------------
@pytest.mark.req("EBR-LIFE-001:table")
def test_every_transition_of_the_table_is_allowed_and_every_other_refused(world):
    refusals = 0
    for current in BatchStatus.values:
        for target in BatchStatus.values:
            batch = set_status(world.batch, current)
            before = snapshot(batch)
            if target in BATCH_TRANSITIONS[current]:
                moved = advance_batch(actor=world.qa, batch=batch, status=target,
                                      reason=f"Test: {current} to {target}")
                stored = Batch.objects.get(pk=batch.pk)
                assert (moved.status, stored.status) == (target, target)
                last = stored.history.first()
                assert (last.history_user, last.history_change_reason) == (
                    world.qa, f"Test: {current} to {target}")
                continue
            with refused("transition_refused"):
                advance_batch(actor=world.qa, batch=batch, status=target, reason="Not allowed")
            assert snapshot(batch) == before, (current, target)
            refusals += 1
    assert refusals == 64 - sum(len(targets) for targets in BATCH_TRANSITIONS.values())


@pytest.mark.req("EBR-LIFE-001:timestamps")
def test_starting_and_executing_are_timed(world):
    batch = advance_batch(actor=world.qa, batch=world.batch, status="in_progress",
                          reason="First step")
    assert batch.started_at is not None and batch.executed_at is None
    batch = advance_batch(actor=world.qa, batch=batch, status="executed", reason="Last step")
    assert batch.executed_at >= batch.started_at


@pytest.mark.req("EBR-LIFE-001:by-hand")
def test_by_hand_a_batch_is_only_cancelled_or_rejected(world):
    # the table allows planned -> in progress and in progress -> executed, but only the steps
    # move a batch there; review and release are signed decisions of their own
    for current, target in (("planned", "in_progress"), ("in_progress", "executed"),
                            ("executed", "under_review"), ("under_review", "reviewed"),
                            ("reviewed", "released")):
        batch = set_status(world.batch, current)
        before = snapshot(batch)
        with refused("not_by_hand"):
            move_batch(actor=world.qa, batch=batch, status=target, reason="By hand")
        assert snapshot(batch) == before, target
    batch = set_status(world.batch, "in_progress")
    assert move_batch(actor=world.qa, batch=batch, status="rejected",
                      reason="Sterility failure").status == "rejected"


@pytest.mark.req("EBR-LIFE-002")
def test_cancelling_needs_a_reason_and_the_permission(world):
    before = snapshot(world.batch)
    with refused("reason_required", field="reason"):
        cancel_batch(actor=world.supervisor, batch=world.batch, reason=" ")
    with refused("permission_denied"):
        cancel_batch(actor=world.operator, batch=world.batch, reason="Patient withdrawn")
    assert snapshot(world.batch) == before
    batch = cancel_batch(actor=world.supervisor, batch=world.batch, reason="Patient withdrawn")
    stored = Batch.objects.get(pk=batch.pk)
    assert (stored.status, stored.status_reason) == ("cancelled", "Patient withdrawn")
    last = stored.history.first()
    assert (last.history_user, last.history_change_reason) == (world.supervisor,
                                                               "Patient withdrawn")
    assert StepRun.objects.filter(batch=batch).count() == 5  # the record stays
    with refused("transition_refused"):
        cancel_batch(actor=world.supervisor, batch=batch, reason="Again")
