"""The demo plant's batches: five patients at different stages (planned, early in progress,
far in progress with exceptions, executed, and a remanufacture after a rejected batch), made
through the execution services; loading again adds nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from batchrecords import demo
from batchrecords.models import Batch, BatchException, StepRun, StepValue
from mes.models import ElectronicSignature


def by_initials() -> dict[str, list[Batch]]:
    found: dict[str, list[Batch]] = {}
    for batch in Batch.objects.select_related("patient").order_by("opened_at", "pk"):
        found.setdefault(batch.patient.initials, []).append(batch)
    return found


@pytest.mark.req("EBR-LIFE-005:stages", "EBR-LIFE-005:exceptions",
                 "EBR-LIFE-005:remanufacture", "EBR-LIFE-005:idempotent")
def test_the_demo_shows_five_patients_batches_at_different_stages(db):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    batches = by_initials()
    assert {k: [b.status for b in v] for k, v in batches.items()} == {
        "FG": ["planned"], "GH": ["in_progress"], "NP": ["in_progress"],
        "PQ": ["executed"], "RS": ["rejected", "planned"]}
    assert all(b.booking_id for v in batches.values() for b in v)
    executed = batches["PQ"][0]
    assert not executed.steps.exclude(status__in=["done", "not_applicable"]).exists()
    assert executed.steps.filter(status="not_applicable").count() == 1
    early = batches["GH"][0].steps.exclude(status="pending").count()
    far = batches["NP"][0].steps.exclude(status="pending").count()
    assert 0 < early <= 5 and far >= 20
    kinds = set(BatchException.objects.filter(batch=batches["NP"][0])
                .values_list("kind", flat=True))
    assert {"alert_limit", "action_limit", "comment", "correction"} <= kinds
    assert BatchException.objects.filter(batch=batches["NP"][0], kind="action_limit",
                                         deviation__isnull=False).exists()
    assert StepValue.objects.filter(run__batch=batches["NP"][0],
                                    corrects__isnull=False).exists()
    rejected, again = batches["RS"]
    assert (again.origin, again.previous, again.version) == (
        "remanufacture", rejected, rejected.version)
    assert "rejected selection" in again.origin_reason
    counts = (Batch.objects.count(), StepRun.objects.count(),
              ElectronicSignature.objects.count())
    demo.load()
    assert (Batch.objects.count(), StepRun.objects.count(),
            ElectronicSignature.objects.count()) == counts
