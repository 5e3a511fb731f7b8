"""Batches opened at the same moment (PostgreSQL): the numbers are taken under a lock, so
none is repeated or skipped, and one patient never gets two batches in the making."""

from __future__ import annotations

import pytest

from batchrecords.models import Batch
from batchrecords.services.batches import open_batch
from mes import audit
from tests.batchrecords.test_batches import new_patient, receive
from tests.batchrecords.world import build_world
from tests.races import race as race_of


@pytest.fixture
def shared_world(transactional_db, roles):
    """The world, committed, so that threads (their own connections) see it."""
    return build_world()


def race(calls) -> list[str]:
    return race_of(calls, "ok")


@pytest.mark.postgres
@pytest.mark.req("EBR-OPEN-002:concurrent", "EBR-OPEN-002:number")
def test_two_receipts_at_once_open_two_batches_with_consecutive_numbers(shared_world):
    world = shared_world
    first = new_patient(world, "KB", "H-0002")
    second = new_patient(world, "LC", "H-0003", booked=False)
    outcomes = race([lambda p=patient: receive(world, p) for patient in (first, second)])
    assert outcomes == ["ok", "ok"]
    prefix = world.batch.number.rsplit("-", 1)[0]
    numbers = sorted(Batch.objects.exclude(pk=world.batch.pk).values_list("number", flat=True))
    assert numbers == [f"{prefix}-00002", f"{prefix}-00003"]
    assert {b.patient_id for b in Batch.objects.exclude(pk=world.batch.pk)} == {
        first.pk, second.pk}


@pytest.mark.postgres
@pytest.mark.req("EBR-OPEN-004:one-active")
def test_two_later_batches_of_one_patient_at_once_open_one(shared_world):
    world = shared_world
    batch = Batch.objects.get(pk=world.batch.pk)
    batch.status = "rejected"
    audit.stamp(batch, user=world.qa, reason="Test: rejected")
    batch.save()
    outcomes = race([
        lambda who=who: open_batch(actor=who, patient=world.patient, origin="remanufacture",
                                   previous=batch, reason="Transduction failed")
        for who in (world.supervisor, world.qa)])
    assert outcomes == ["batch_in_progress", "ok"]
    assert Batch.objects.filter(patient=world.patient).count() == 2
