"""A feasibility problem a Supervisor confirmed the booking despite is one of the batch's
exceptions: whether the batch was opened before the confirmation or after it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from batchrecords.models import BatchException, ExceptionKind
from batchrecords.services.batches import open_batch
from mes import audit
from scheduling import services as scheduling
from tests.mes.factories import PASSWORD
from tests.scheduling.factories import another_order

pytestmark = pytest.mark.django_db

REASON = "Cover arranged with the BOS team"


def _confirm(world, booking):
    scheduling.confirm(actor=world.supervisor, booking=booking, password=PASSWORD,
                       reason=REASON)
    booking.refresh_from_db()
    assert booking.confirmed_problems, "the test needs a booking with problems"
    return booking


@pytest.mark.req("EBR-EXC-004:after")
def test_confirming_the_booking_of_an_open_batch_despite_problems_records_each(world):
    booking = _confirm(world, world.booking)

    found = BatchException.objects.filter(batch=world.batch, kind=ExceptionKind.FEASIBILITY)
    assert sorted(e.code for e in found) == sorted(p["code"] for p in booking.confirmed_problems)
    assert {(e.actor, REASON in e.detail) for e in found} == {(world.supervisor, True)}


@pytest.mark.req("EBR-EXC-004:before")
def test_a_batch_opened_on_a_booking_confirmed_despite_problems_takes_them_over(world):
    order = another_order(world)
    today = timezone.localtime(timezone.now(), world.site.zone).date()
    other_suite = scheduling.create_suite(actor=world.admin, site=world.site, code="S9",
                                          name="Suite 9", grade="B")
    booking = _confirm(world, scheduling.book(actor=world.planner, order=order,
                                              suite=other_suite, start=today))
    with audit.acting_as(world.supervisor):
        batch = open_batch(actor=world.supervisor, patient=order.patient, booking=booking,
                           automatic=True)

    found = BatchException.objects.filter(batch=batch, kind=ExceptionKind.FEASIBILITY)
    assert found.count() == len(booking.confirmed_problems) > 0
