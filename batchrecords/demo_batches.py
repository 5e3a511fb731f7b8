"""Demo data: five patients' batches at Leiden, at different stages, made through the services
as the people of the demo would have made them over the last days.

* FG: planned. Its material arrived before the master record was approved, so the supervisor
  opens the batch by hand (booked in suite LEI-D).
* GH: early in progress in suite LEI-C: the bag received, the identity verified by two people,
  the bag inspected.
* NP: far in progress in suite LEI-A (day 4 of expansion), with exceptions: a viability
  outside its alert limits, a cell count outside its action limits (and its deviation), a
  comment and a corrected volume.
* PQ: executed in suite LEI-B, every step signed (the QC samples step not applicable).
* RS: the first batch rejected after selection (viability below the action limit), and a
  remanufacture opened after it, linked with its reason.

Days-long steps (incubations, daily counts with their time windows) are made at the moments
they would have happened: the clock is moved back while each is recorded (time-machine), so
every record, signature and audit row carries that moment. Each suite gets a registered
terminal; equipment is cleaned after each use; the reagents are scanned from lots received for
these batches, so the planner's reagent picture of the coming bookings stays as it was.
Loading again adds nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
from types import SimpleNamespace

from django.utils import timezone

from batchrecords.models import Batch, StepRun
from batchrecords.services import batches as lifecycle
from batchrecords.services.checks import turn_problems
from batchrecords.services.corrections import correct_value
from batchrecords.services.execution import (
    LotScan,
    add_comment,
    mark_not_applicable,
    perform_step,
    verify_step,
)
from custody.models import Order, Patient, Product
from custody.services import orders
from custody.services.events import Handoff, record_custody_event
from mes import audit
from mes.demo import DEMO_PASSWORD
from mes.models import Site, User
from reagents import services as reagents
from reagents.models import Material, ReagentLot
from scheduling import services as scheduling
from scheduling.models import Equipment, Suite
from scheduling.services.terminals import register_terminal
from training.models import Qualification, SOPRevision
from training.services import certifications, records

STEP = dt.timedelta(minutes=5)
CLEANING = dt.timedelta(minutes=10)
CLEAN_HOLD = dt.timedelta(days=30)

# Values entered where the master record asks for a number (in limits unless a batch says
# otherwise); yes/no is "yes", a choice its first option, a date-time the moment itself.
VALUES = {
    "apheresis_volume": "245", "wbc_incoming": "4.2", "tcells_selected": "850",
    "viability_selected": "96", "seeding_density": "1.0", "vector_titer": "2.1",
    "vcc_pre_td": "1.1", "culture_volume": "100", "target_moi": "5",
    "vcc_d3": "0.6", "viability_d3": "92", "vcc_d4": "0.9", "viability_d4": "93",
    "vcc_d5": "1.4", "viability_d5": "94", "vcc_d6": "2.0", "viability_d6": "94",
    "vcc_d7": "2.6", "viability_d7": "93", "total_viable_cells": "3.1", "vcc_harvest": "25",
    "viability_harvest": "92", "dose_cells": "100", "bags_filled": "2",
    "end_temperature": "-90", "storage_position": "LN2 tank 3, rack 2, box 4",
}
# Lots received for the demo batches before they started (material, supplier lot, quantity):
# they expire in two days, so the reagents of the coming bookings are planned as before.
LOTS = [("PBS-EDTA", "PB-55190", "6000"), ("CD4-MB", "MB4-88240", "3"),
        ("CD8-MB", "MB8-77302", "3"), ("MED-TEX", "TX2411D", "5000"),
        ("IL2-GMP", "IL2-5588", "100"), ("TRANSACT", "TA-3342", "10"),
        ("LV-CD19", "VV24-0305", "5"), ("HSA-20", "HSA-9950", "100"),
        ("CS10", "CS-2024-91", "100")]
LOT_SCANS = {code: supplier_lot for code, supplier_lot, _ in LOTS}
EXPIRY_DAYS = 2
# Supervisor Sam verifies the steps of the process he is certified for; Olga verifies his.
SUPERVISOR_QUALIFICATIONS = ["ACT-TRANS", "HARVEST-FILL", "CRYO"]

# initials, date of birth, reference, hospital number, suite, days ago the batch starts, and
# the hours its steps take (the time windows included)
NEW_PATIENTS = [
    ("RS", dt.date(1964, 2, 9), "DEMO-EBR-1", "UMCU-800001", "LEI-D", 8, 40),
    ("PQ", dt.date(1973, 8, 26), "DEMO-EBR-2", "UMCU-800002", "LEI-B", 6, 142),
    ("NP", dt.date(1959, 12, 1), "DEMO-EBR-3", "UMCU-800003", "LEI-A", 4, 76),
]
SHIFT_START = dt.time(7, 30)


def load() -> None:
    lei = Site.objects.filter(code="LEI").first()
    people = {u.username: u for u in User.objects.filter(
        username__in=["operator", "supervisor", "qa", "planner", "trainer", "operator2"])}
    if (lei is None or len(people) < 6 or Batch.objects.filter(site=lei).exists()
            or not Suite.objects.filter(site=lei).exists()
            or not ReagentLot.objects.filter(site=lei).exists()
            or not Qualification.objects.filter(code="VERIFY-2P").exists()
            or not Order.objects.filter(external_reference="DEMO-06").exists()):
        return
    import time_machine  # a development dependency, as the demo is

    plant = SimpleNamespace(site=lei, travel=time_machine.travel, now=timezone.now(),
                            terminals={}, **people)
    _certify(plant)
    with _at(plant, plant.now - dt.timedelta(days=9)):
        _receive_lots(plant)
    for initials, born, reference, number, suite, days, hours in NEW_PATIENTS:
        _new_patient(plant, initials, born, reference, number,
                     Suite.objects.get(site=lei, code=suite), _start(plant, days, hours))
    _early(plant)
    _planned(plant)


def _start(plant, days: int, hours: int) -> dt.datetime:
    """The early shift ``days`` ago, unless the batch's steps would then run past now."""
    day = timezone.localtime(plant.now, plant.site.zone).date() - dt.timedelta(days=days)
    start = dt.datetime.combine(day, SHIFT_START, tzinfo=plant.site.zone)
    latest = plant.now - dt.timedelta(hours=hours + 1)
    return min(start, latest)


@contextlib.contextmanager
def _at(plant, moment: dt.datetime):
    """Record what happens inside at ``moment`` (the clock stands still there)."""
    with plant.travel(moment, tick=False):
        yield


# --- People and reagents ---------------------------------------------------------------------
def _certify(plant) -> None:
    """Olga becomes a second-person verifier and Sam is certified for the process steps he
    verifies, through the training records and certifications as a trainer would."""
    today = timezone.localdate()
    wanted = [(plant.operator, "VERIFY-2P", 60)] + [
        (plant.supervisor, code, 10) for code in SUPERVISOR_QUALIFICATIONS]
    for person, code, days in wanted:
        qualification = Qualification.objects.get(code=code)
        revision = SOPRevision.objects.filter(
            document__in=qualification.sop_documents.all(),
            status=SOPRevision.Status.EFFECTIVE).first()
        on = today - dt.timedelta(days=days)
        with audit.acting_as(person):
            record = records.record_training(
                actor=person, password=DEMO_PASSWORD, sop_revision=revision,
                trainer=plant.trainer, site=plant.site, trained_on=on, assessment="passed")
        with audit.acting_as(plant.trainer):
            records.verify_training(actor=plant.trainer, password=DEMO_PASSWORD, record=record)
            certifications.grant_certification(
                actor=plant.trainer, password=DEMO_PASSWORD, person=person,
                qualification=qualification, site=plant.site, valid_from=on,
                reason=f"Observed performance of {qualification.name.lower()} passed")


def _receive_lots(plant) -> None:
    for code, supplier_lot, quantity in LOTS:
        material = Material.objects.get(code=code)
        expiry = plant.now.date() + dt.timedelta(days=EXPIRY_DAYS)
        scan = f"]d201{material.gtins.first().gtin}17{expiry:%y%m%d}10{supplier_lot}"
        with audit.acting_as(plant.operator):
            lot = reagents.receive_lot(user=plant.operator, site=plant.site, scan=scan,
                                       quantity=quantity, storage_location="Cold room CR1")
        if lot.status == "quarantine":
            with audit.acting_as(plant.qa):
                reagents.release_lot(user=plant.qa, password=DEMO_PASSWORD, lot=lot,
                                     coa_reference=f"COA-{supplier_lot}",
                                     reason="CoA reviewed against the material specification")


def _terminal(plant, suite: Suite):
    if suite.pk not in plant.terminals:
        with audit.acting_as(plant.supervisor):
            plant.terminals[suite.pk] = register_terminal(
                actor=plant.supervisor, suite=suite, name=f"{suite.code} bench terminal")[0]
    return plant.terminals[suite.pk]


# --- Patients --------------------------------------------------------------------------------
def _new_patient(plant, initials: str, born: dt.date, reference: str, number: str,
                 suite: Suite, start: dt.datetime) -> None:
    """Ordered, booked, collected and received (the receipt opens the batch), then made."""
    umcu = Site.objects.get(code="UMCU")
    with _at(plant, start - dt.timedelta(days=2)):
        order = orders.place_order(actor=plant.planner, request=orders.OrderRequest(
            product=Product.objects.get(code="CART-19"), manufacturing_site=plant.site,
            ordering_site=umcu, initials=initials, date_of_birth=born,
            full_name=f"Demo Patient {initials}", hospital_record_number=number,
            planned_collection_date=_today(plant), external_reference=reference))
        patient = order.patient
        _handoff(plant, patient, umcu, "collected", plant.operator2)
    with _at(plant, start - dt.timedelta(hours=3)):
        with audit.acting_as(plant.planner):
            scheduling.book(actor=plant.planner, order=order, suite=suite,
                            start=_today(plant), reason="Demo: slot agreed with UMCU")
        _handoff(plant, patient, plant.site, "received", plant.operator)
        _terminal(plant, suite)
    batch = Batch.objects.get(patient=patient)
    maker = Maker(plant, batch, suite, start)
    {"RS": _rejected_and_remanufactured, "PQ": _executed, "NP": _far_with_exceptions}[
        initials](plant, maker)


def _today(plant) -> dt.date:
    return timezone.localtime(timezone.now(), plant.site.zone).date()


def _handoff(plant, patient: Patient, site: Site, kind: str, actor: User) -> None:
    with audit.acting_as(actor):
        record_custody_event(actor=actor, password=DEMO_PASSWORD, handoff=Handoff(
            patient=patient, site=site, kind=kind, container_id=f"BAG-{patient.coi[-6:]}",
            label_scan=patient.isbt.barcode_data))


def _rejected_and_remanufactured(plant, maker) -> None:
    maker.until("S05", values={"S05": {"viability_selected": "62"}})
    first = maker.batch
    with _at(plant, maker.cursor + dt.timedelta(hours=20)), audit.acting_as(plant.qa):
        lifecycle.move_batch(actor=plant.qa, batch=first, status="rejected",
                             reason="Viability 62 % after selection, below the action limit "
                                    "of 70 %: the cells are not expanded")
    with _at(plant, maker.cursor + dt.timedelta(hours=26)), audit.acting_as(plant.supervisor):
        lifecycle.open_batch(actor=plant.supervisor, patient=first.patient,
                             origin=Batch.Origin.REMANUFACTURE, previous=first,
                             reason="Remanufacture from the retained apheresis fraction after "
                                    "the rejected selection (QA decision QD-2026-031)")


def _executed(plant, maker) -> None:
    maker.until("C04", na={"H04": "QC samples taken from the final bags at F05 under "
                                  "CC-2026-040"})


def _far_with_exceptions(plant, maker) -> None:
    maker.until("T01")
    run = maker.run("R04")
    with _at(plant, maker.tick()), audit.acting_as(plant.operator):
        correct_value(actor=plant.operator, password=DEMO_PASSWORD, run=run,
                      revision=run.revision, terminal=maker.terminal,
                      field_key="apheresis_volume", value="254",
                      reason="Transcription error: the balance read 254 mL")
    maker.resign("R04")
    maker.until("D4", values={"D3": {"viability_d3": "78"}, "D4": {"vcc_d4": "0.08"}},
                comments={"D3": "Culture slightly clumped; mixed gently per SOP-EXP-004 "
                                "before sampling."})


def _early(plant) -> None:
    patient = Patient.objects.filter(order__external_reference="DEMO-07").first()
    if patient is None or patient.batches.exists():
        return
    suite = Suite.objects.get(site=plant.site, code="LEI-C")
    with audit.acting_as(plant.supervisor):
        batch = lifecycle.open_batch(
            actor=plant.supervisor, patient=patient,
            reason="Received before the master record was approved; opened by hand")
        _terminal(plant, suite)
    Maker(plant, batch, suite, timezone.now(), travel=False).until("R03")


def _planned(plant) -> None:
    patient = Patient.objects.filter(order__external_reference="DEMO-06").first()
    if patient is None or patient.batches.exists():
        return
    with audit.acting_as(plant.supervisor):
        lifecycle.open_batch(
            actor=plant.supervisor, patient=patient,
            reason="Received before the master record was approved; opened by hand")


# --- Performing steps ------------------------------------------------------------------------
class Maker:
    """Performs a batch's steps in order from ``start``, each at the moment it is due (a
    window's earliest start when there is one), by the person certified for it, with the
    scans and values it asks for; verifies where a second person must."""

    def __init__(self, plant, batch: Batch, suite: Suite, start: dt.datetime, *,
                 travel: bool = True):
        self.plant, self.batch, self.suite, self.cursor = plant, batch, suite, start
        self.terminal = plant.terminals[suite.pk]
        self.travel = travel

    def at(self, moment):
        return _at(self.plant, moment) if self.travel else contextlib.nullcontext()

    def tick(self, by: dt.timedelta = STEP) -> dt.datetime:
        """The next moment (now itself for a batch made now)."""
        self.cursor = self.cursor + by if self.travel else timezone.now()
        return self.cursor

    def run(self, code: str) -> StepRun:
        return StepRun.objects.select_related("step", "batch__site").get(
            batch=self.batch, step__code=code)

    def until(self, last: str, *, values=None, na=None, comments=None) -> None:
        values, na, comments = values or {}, na or {}, comments or {}
        for run in StepRun.objects.filter(batch=self.batch, status="pending").select_related(
                "step").order_by("sequence"):
            self.perform(run.step.code, values.get(run.step.code, {}), na.get(run.step.code))
            if run.step.code in comments:
                with self.at(self.tick()), audit.acting_as(self.plant.operator):
                    add_comment(actor=self.plant.operator, run=self.run(run.step.code),
                                text=comments[run.step.code])
            if run.step.code == last:
                return

    def perform(self, code: str, given: dict, na_reason: str | None) -> None:
        run = self.run(code)
        step = run.step
        moment = self.tick()
        turn = turn_problems(run, moment)
        if turn.code == "too_early":
            moment = self.cursor = turn.earliest + STEP
        if self.travel and moment > self.plant.now:
            raise RuntimeError(f"The demo's batch {self.batch.number} would reach step {code} "
                               "after now: start it earlier (NEW_PATIENTS).")
        who = self.performer(step)
        with self.at(moment), audit.acting_as(who):
            if na_reason:
                mark_not_applicable(actor=who, password=DEMO_PASSWORD, run=run,
                                    revision=run.revision, terminal=self.terminal,
                                    reason=na_reason)
                return
            perform_step(
                actor=who, password=DEMO_PASSWORD, run=run, revision=run.revision,
                terminal=self.terminal, values=self._values(step, given, moment),
                label_scan=self.batch.patient.isbt.barcode_data if step.patient_label_scan
                else "",
                lots=[LotScan(material_code=m.material_code, scan=LOT_SCANS[m.material_code])
                      for m in step.materials.order_by("position")],
                equipment_scan=self._equipment(step))
        if step.equipment_type_code:
            self._clean(step.equipment_type_code)
        if step.second_person_verification:
            self.verify(code, who)

    def verify(self, code: str, performer: User) -> None:
        run = self.run(code)
        who = (self.plant.operator if performer == self.plant.supervisor
               else self.plant.supervisor)
        with self.at(self.tick()), audit.acting_as(who):
            verify_step(actor=who, password=DEMO_PASSWORD, run=run, revision=run.revision,
                        terminal=self.terminal)

    def resign(self, code: str) -> None:
        """A corrected step signed again by its performer (and verified again if needed)."""
        run = self.run(code)
        who = self.performer(run.step)
        with self.at(self.tick()), audit.acting_as(who):
            perform_step(actor=who, password=DEMO_PASSWORD, run=run, revision=run.revision,
                         terminal=self.terminal)
        if run.step.second_person_verification:
            self.verify(code, who)

    def performer(self, step) -> User:
        return (self.plant.supervisor if "VERIFY-2P" in step.required_qualifications
                else self.plant.operator)

    def _values(self, step, given: dict, moment: dt.datetime) -> dict[str, str]:
        entered = {}
        for field in step.fields.order_by("position"):
            kind = field.kind
            if kind == "calculated":
                continue
            if field.key in given:
                entered[field.key] = given[field.key]
            elif kind == "yes_no":
                entered[field.key] = "yes"
            elif kind == "choice":
                entered[field.key] = field.options[0]
            elif kind == "datetime":
                local = timezone.localtime(moment, self.batch.site.zone)
                entered[field.key] = local.strftime("%Y-%m-%d %H:%M")
            elif field.key in VALUES:
                entered[field.key] = VALUES[field.key]
            elif field.required:
                entered[field.key] = "As instructed"
        return entered

    def _equipment(self, step) -> str:
        return f"{self.suite.code}-{step.equipment_type_code}" if step.equipment_type_code \
            else ""

    def _clean(self, type_code: str) -> None:
        """Cleaned after each use, so the next step (and the next booking) finds it clean."""
        piece = Equipment.objects.get(identifier=f"{self.suite.code}-{type_code}")
        moment = self.tick(CLEANING)
        with self.at(moment), audit.acting_as(self.plant.supervisor):
            scheduling.record_cleaning(
                actor=self.plant.supervisor, password=DEMO_PASSWORD, equipment=piece,
                clean_until=moment + CLEAN_HOLD,
                text="Cleaned and disinfected after use per SOP-CL-003")
