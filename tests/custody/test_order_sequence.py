"""Nothing reaches the treating site or the patient before QP release, and the batch record
moves an order only in sequence: a chain that skips release never reads as complete."""

import pytest

from custody.models import CustodyEvent, Order, OrderStatusChange
from custody.services import orders
from mes.models import ElectronicSignature
from tests.custody.test_custody_events import record
from tests.refusals import refused


def snapshot(patient):
    order = Order.objects.get(patient=patient)
    return (order.status, OrderStatusChange.objects.filter(order=order).count(),
            CustodyEvent.objects.count(), ElectronicSignature.objects.count())


@pytest.mark.req("COI-ORD-003:release-gate")
@pytest.mark.parametrize("kind", ["infused", "shipped_to_treating_site",
                                  "received_at_treating_site"])
def test_an_event_past_release_is_refused_on_an_unreleased_order(operator, password, patient,
                                                                 site, clinical_site, kind):
    record(operator, password, patient, clinical_site, "collected")
    before = snapshot(patient)

    with refused("not_released", field="kind"):
        record(operator, password, patient, clinical_site if kind != "shipped_to_treating_site"
               else site, kind)

    assert snapshot(patient) == before


@pytest.mark.req("COI-ORD-003:batch-sequence")
def test_the_batch_record_moves_an_order_only_in_sequence(planner, operator, password,
                                                          patient, site, clinical_site):
    order = Order.objects.get(patient=patient)
    for status in ("released", "in_manufacturing"):
        before = snapshot(patient)
        with refused("stage_out_of_sequence", field="status"):
            orders.advance_order_from_batch(actor=planner, order=order, status=status,
                                            reason="Batch B-1")
        assert snapshot(patient) == before

    for kind, where in (("collected", clinical_site), ("shipped", clinical_site),
                        ("received", site)):
        record(operator, password, patient, where, kind)
    order.refresh_from_db()
    with refused("stage_out_of_sequence"):
        orders.advance_order_from_batch(actor=planner, order=order, status="released",
                                        reason="Batch B-1")
    orders.advance_order_from_batch(actor=planner, order=order, status="in_manufacturing",
                                    reason="Batch B-1 started")
    orders.advance_order_from_batch(actor=planner, order=order, status="released",
                                    reason="Batch B-1 released by the QP")
    # once released, the product may leave the plant
    record(operator, password, patient, site, "shipped_to_treating_site")
    assert Order.objects.get(patient=patient).status == "shipped"
