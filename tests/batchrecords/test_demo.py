"""The demo's master record: approved, 40 steps in 8 operations, a newer draft that differs."""

import pytest
from django.contrib.contenttypes.models import ContentType

from batchrecords import demo
from batchrecords.diff import diff_versions
from batchrecords.models import DataField, MasterRecordVersion, Step
from custody import demo as custody_demo
from mes import demo as kernel_demo
from mes.models import ElectronicSignature
from mes.services.signatures import verify
from reagents import demo as reagents_demo
from scheduling import demo as scheduling_demo
from training import demo as training_demo


@pytest.mark.req("MBR-DEMO-001")
def test_the_demo_has_an_approved_car_t_record_and_a_draft_and_loads_once(db):
    kernel_demo.load()
    # the registers the record's codes come from (training, reagents, scheduling) first
    for app in (training_demo, reagents_demo, custody_demo, scheduling_demo):
        app.load()
    demo.load()
    effective = MasterRecordVersion.objects.get(status="effective")
    draft = MasterRecordVersion.objects.get(status="draft")
    assert (effective.master.product.code, effective.master.site.code) == ("CART-19", "LEI")
    assert effective.operations.count() == 8
    assert Step.objects.filter(operation__version=effective).count() == 40
    assert effective.author.username == "supervisor"
    assert effective.approved_by.username == "qa"
    signature = ElectronicSignature.objects.get(
        content_type=ContentType.objects.get_for_model(MasterRecordVersion),
        object_id=effective.pk, meaning="approved")
    assert verify(signature).valid
    dose = DataField.objects.get(step__operation__version=effective, key="dose_volume")
    assert dose.kind == "calculated" and "vector_titer" in dose.formula
    viability = DataField.objects.filter(
        step__operation__version=effective, key__startswith="viability_d"
    )
    assert viability.count() == 5 and all(f.action_low is not None for f in viability)
    assert draft.based_on == effective
    differences = {(d.kind, d.key, d.status) for d in diff_versions(effective, draft)}
    assert {
        ("step", "TRANSDUCE/T05", "changed"),
        ("field", "HARVEST/H03 viability_harvest", "changed"),
        ("step", "EXPAND/E09", "added"),
    } <= differences
    counts = (
        MasterRecordVersion.objects.count(),
        Step.objects.count(),
        ElectronicSignature.objects.count(),
    )
    demo.load()
    assert (
        MasterRecordVersion.objects.count(),
        Step.objects.count(),
        ElectronicSignature.objects.count(),
    ) == counts
