"""A plant ready to make one patient's batch: everything every step needs is in order.

Built on the scheduling plant (suite S1 with a bioreactor and a cell separator, certified
operators, released vector and medium lots, the patient's order), with an approved master
record whose few steps cover every rule of execution, a booking of S1 that covers today, a
terminal registered to S1 and the patient's batch opened from the effective version.

Steps, in order (stage in brackets):
  RECEIPT.R01  [1] patient label scan, critical, GOWN-B; yes/no ``seal_intact``
  SELECT.S01   [2] CELL-SEP equipment, CELL-SEL; 100 mL MED-TEX ±5; numbers ``vcc``
               (target 1.5, alert 1–2, action 0.5–3) and ``volume``
  TRANSDUCE.T01 [3] parallel group PREP; number ``titer``
  TRANSDUCE.T02 [3] parallel group PREP; N/A allowed; optional text ``remarks``
  TRANSDUCE.T03 [4] window 30–120 min after stage 3, second-person verification,
               BIOREACTOR, 2.5 mL LV-CD19 ±0.25; choice ``method``, calculated
               ``dose_volume`` = 5 * vcc * volume / titer, datetime ``added_at``
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

from django.utils import timezone

from batchrecords.models import StepRun
from batchrecords.services.batches import open_batch
from batchrecords.services.versions import approve_version, import_document, submit_for_review
from mes import audit
from scheduling import services as scheduling
from scheduling.services.terminals import register_terminal
from tests.mes.factories import PASSWORD, person
from tests.scheduling.factories import build_plant

DOCUMENT = {
    "format": "cgt-mes/master-record@1",
    "product": "CART-19",
    "title": "Autologous CAR-T (test)",
    "change_summary": "First issue.",
    "operations": [
        {"code": "RECEIPT", "name": "Receipt", "steps": [
            {"code": "R01", "title": "Verify the patient's bag",
             "instructions": "Scan the **patient label** on the bag.",
             "patient_label_scan": True, "critical": True,
             "required_qualifications": ["GOWN-B"], "expected_minutes": 10,
             "fields": [{"key": "seal_intact", "label": "Seal intact", "kind": "yes_no"}]},
        ]},
        {"code": "SELECT", "name": "Cell selection", "steps": [
            {"code": "S01", "title": "Select CD4/CD8 cells",
             "required_qualifications": ["CELL-SEL"], "equipment_type_code": "CELL-SEP",
             "expected_minutes": 90,
             "materials": [{"material_code": "MED-TEX", "quantity": 100, "unit": "mL",
                            "tolerance": 5}],
             "fields": [
                 {"key": "vcc", "label": "Viable cell concentration", "kind": "number",
                  "unit": "10^6/mL", "target": 1.5, "alert_low": 1, "alert_high": 2,
                  "action_low": 0.5, "action_high": 3},
                 {"key": "volume", "label": "Culture volume", "kind": "number", "unit": "mL"},
             ]},
        ]},
        {"code": "TRANSDUCE", "name": "Transduction", "steps": [
            {"code": "T01", "title": "Thaw the vector", "parallel_group": "PREP",
             "expected_minutes": 20,
             "fields": [{"key": "titer", "label": "Vector titre", "kind": "number",
                         "unit": "TU/mL"}]},
            {"code": "T02", "title": "Warm the medium", "parallel_group": "PREP",
             "na_allowed": True, "expected_minutes": 15,
             "fields": [{"key": "remarks", "label": "Remarks", "kind": "text",
                         "required": False}]},
            {"code": "T03", "title": "Add the vector", "second_person_verification": True,
             "critical": True, "window_min_minutes": 30, "window_max_minutes": 120,
             "equipment_type_code": "BIOREACTOR", "required_qualifications": ["EXPANSION"],
             "materials": [{"material_code": "LV-CD19", "quantity": 2.5, "unit": "mL",
                            "tolerance": 0.25}],
             "fields": [
                 {"key": "method", "label": "Method", "kind": "choice",
                  "options": ["Manual", "Pump"]},
                 {"key": "dose_volume", "label": "Dose volume", "kind": "calculated",
                  "unit": "mL", "formula": "5 * vcc * volume / titer"},
                 {"key": "added_at", "label": "Added at", "kind": "datetime"},
             ]},
        ]},
    ],
}


def approved_version(*, author, approver, site, document=None):
    version = import_document(actor=author, site=site, document=copy.deepcopy(
        document or DOCUMENT))
    submit_for_review(actor=author, version=version)
    return approve_version(actor=approver, password=PASSWORD, version=version,
                           reason="Change control CC-1")


def build_world() -> SimpleNamespace:
    plant = build_plant()
    site = plant.site
    qa = person("QA Reviewer", sites=[site], username="qa1", full_name="Quinn Assurance")
    version = approved_version(author=plant.supervisor, approver=qa, site=site)
    today = timezone.localtime(timezone.now(), site.zone).date()
    booking = scheduling.book(actor=plant.planner, order=plant.order, suite=plant.suite,
                              start=today, reason="Test: manufacturing starts today")
    terminal, secret = register_terminal(actor=plant.supervisor, suite=plant.suite,
                                         name="S1 bench left")
    patient = plant.order.patient
    with audit.acting_as(plant.supervisor):
        batch = open_batch(actor=plant.supervisor, patient=patient, booking=booking,
                           automatic=True)
    runs = {run.step.code: run for run in
            StepRun.objects.filter(batch=batch).select_related("step")}
    return SimpleNamespace(
        **vars(plant), qa=qa, version=version, booking=booking, terminal=terminal,
        terminal_secret=secret, patient=patient, batch=batch, runs=runs,
        operator=plant.op_a, verifier=plant.op_b, password=PASSWORD,
        label=patient.isbt.barcode_data if patient.din else patient.coi,
    )


def run(world, code: str) -> StepRun:
    """The step run of ``code``, fresh from the database."""
    return StepRun.objects.get(pk=world.runs[code].pk)
