"""Master record facts the batch record tests share."""

from __future__ import annotations

import copy

import pytest

from custody.models import Product
from mes import audit
from tests.mes.factories import person

DOCUMENT = {
    "format": "cgt-mes/master-record@1",
    "product": "CART-T1",
    "title": "Test CAR-T process",
    "change_summary": "First issue.",
    "operations": [
        {
            "code": "RECEIPT",
            "name": "Receipt",
            "steps": [
                {
                    "code": "R01",
                    "title": "Receive the bag",
                    "instructions": "Check the **seal**.",
                    "patient_label_scan": True,
                    "critical": True,
                    "required_qualifications": ["GOWN-B"],
                    "fields": [{"key": "seal_intact", "label": "Seal intact", "kind": "yes_no"}],
                },
            ],
        },
        {
            "code": "TRANSDUCE",
            "name": "Transduction",
            "steps": [
                {
                    "code": "T01",
                    "title": "Count",
                    "expected_minutes": 20,
                    "window_min_minutes": 60,
                    "window_max_minutes": 120,
                    "parallel_group": "PREP",
                    "fields": [
                        {
                            "key": "vcc",
                            "label": "Viable cell concentration",
                            "kind": "number",
                            "unit": "10^6/mL",
                            "target": 1.5,
                            "alert_low": 1,
                            "alert_high": 2,
                            "action_low": 0.5,
                            "action_high": 3,
                        },
                        {
                            "key": "volume",
                            "label": "Culture volume",
                            "kind": "number",
                            "unit": "mL",
                        },
                        {
                            "key": "titer",
                            "label": "Vector titre",
                            "kind": "number",
                            "unit": "TU/mL",
                        },
                    ],
                },
                {
                    "code": "T02",
                    "title": "Dose",
                    "second_person_verification": True,
                    "na_allowed": True,
                    "equipment_type_code": "BSC",
                    "materials": [
                        {
                            "material_code": "LV-CD19",
                            "quantity": 2.5,
                            "unit": "mL",
                            "tolerance": 0.25,
                        }
                    ],
                    "fields": [
                        {
                            "key": "method",
                            "label": "Method",
                            "kind": "choice",
                            "options": ["Manual", "Pump"],
                        },
                        {
                            "key": "dose_volume",
                            "label": "Dose volume",
                            "kind": "calculated",
                            "unit": "mL",
                            "formula": "5 * vcc * volume / titer",
                        },
                        {"key": "added_at", "label": "Added at", "kind": "datetime"},
                        {"key": "remarks", "label": "Remarks", "kind": "text", "required": False},
                    ],
                },
            ],
        },
    ],
}


@pytest.fixture
def document():
    return copy.deepcopy(DOCUMENT)


def _codes(document: dict) -> tuple[set, set, set]:
    steps = [step for operation in document["operations"] for step in operation["steps"]]
    return (
        {code for step in steps for code in step.get("required_qualifications", [])},
        {m["material_code"] for step in steps for m in step.get("materials", [])},
        {step["equipment_type_code"] for step in steps if step.get("equipment_type_code")},
    )


@pytest.fixture
def registers(db):
    """Every qualification, material and equipment type the test and demo documents name."""
    from batchrecords.demo import DOCUMENT as DEMO
    from reagents.models import Material
    from scheduling.models import EquipmentType
    from training.models import Qualification

    qualifications, materials, equipment = (
        a | b for a, b in zip(_codes(DOCUMENT), _codes(DEMO), strict=True)
    )
    with audit.acting_as(audit.system_user()):
        for code in sorted(qualifications):
            gowning = code.startswith("GOWN-")
            Qualification.objects.get_or_create(code=code, defaults={
                "name": code, "validity_months": 12, "kind": "gowning" if gowning else "process",
                "cleanroom_grade": code[-1] if gowning else ""})
        for code in sorted(materials):
            Material.objects.get_or_create(
                code=code, defaults={"name": code, "unit": "mL", "storage_condition": "2-8"})
        for code in sorted(equipment):
            EquipmentType.objects.get_or_create(code=code, defaults={"name": code})


@pytest.fixture
def product(db, registers):
    with audit.acting_as(audit.system_user()):
        return Product.objects.get_or_create(code="CART-T1", defaults={"name": "Test CAR-T"})[0]


@pytest.fixture
def author(site, roles):
    return person("Supervisor", sites=[site], username="sup1", full_name="Sam Supervisor")


@pytest.fixture
def other_qa(site, roles):
    return person("QA Reviewer", sites=[site], username="qa2", full_name="Quinn Second")


@pytest.fixture
def imported(author, site, product, document):
    from batchrecords.services.versions import import_document

    return import_document(actor=author, site=site, document=document)


@pytest.fixture
def in_review(imported, author):
    from batchrecords.services.versions import submit_for_review

    return submit_for_review(actor=author, version=imported)


@pytest.fixture
def effective(in_review, qa_user, password):
    from batchrecords.services.versions import approve_version

    return approve_version(
        actor=qa_user, password=password, version=in_review, reason="Change control CC-1"
    )


@pytest.fixture
def world(db, roles):
    """A plant ready to make one patient's batch (see tests/batchrecords/world.py)."""
    from tests.batchrecords.world import build_world

    return build_world()
