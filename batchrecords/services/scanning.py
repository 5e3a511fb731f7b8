"""What is scanned at a step: the patient's label, reagent lots and equipment.

A lot is scanned by its GS1 label (GTIN, lot and serial, as received) or, where the label
carries no GS1 barcode, by its supplier lot number. Equipment is scanned by its identifier.
``check_scan`` is the terminal's instant answer as each barcode is scanned; it writes nothing
except for a wrong patient's label, which is recorded at once with its deviation and a stop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from batchrecords.models import StepMaterial, StepRun, StepScan
from batchrecords.services import checks, stops
from batchrecords.services.runs import StepRefused, record_exception
from batchrecords.services.values import plain_decimal
from custody.services.scans import LabelMismatch, match_scan, verify_label_scan
from mes import audit
from mes.errors import DomainError
from mes.models import Site, User
from reagents import gs1
from reagents.models import LotStatus, Material, ReagentLot
from scheduling.models import Equipment, Suite, Terminal
from scheduling.services.logbook import usability_problems

SCAN_LIMIT = 200
# reagents' refusal codes for a lot that is not released (consume_lot says the same).
LOT_REFUSALS = {LotStatus.QUARANTINE: "lot_quarantined", LotStatus.REJECTED: "lot_rejected",
                LotStatus.ON_HOLD: "lot_on_hold", LotStatus.EXPIRED: "lot_expired",
                LotStatus.DEPLETED: "lot_depleted"}


@dataclass(frozen=True)
class LotScan:
    """A lot scanned for one of the step's materials; ``quantity`` defaults to the master's."""

    material_code: str
    scan: str
    quantity: object = None
    substitution_reason: str = ""


@dataclass(frozen=True)
class ScanCheck:
    ok: bool
    message: str
    kind: str
    recognised: str = ""
    code: str = ""
    stopped: bool = False


@dataclass
class Attempt:
    """The scan being processed inside a perform: if it is refused, the refusal is recorded
    after the rollback (``refused``)."""

    kind: str = ""
    scanned: str = ""

    def start(self, kind: str, scanned: str) -> None:
        self.kind, self.scanned = kind, scanned

    def done(self) -> None:
        self.kind = self.scanned = ""


class LabelRefused(Exception):
    """A patient label that is not this patient's (or not readable): recorded by custody
    after the rollback of the attempt, with the batch's exception (and stop)."""

    def __init__(self, scan: str):
        super().__init__(scan)
        self.scan = scan


def clean_scan(scan) -> str:
    scan = "" if scan is None else str(scan)
    if "\x00" in scan:
        raise StepRefused("The scan contains a NUL character; scan again.", code="invalid_scan",
                          status=400, fields={"scan": ["Not readable."]})
    return scan.strip()[:SCAN_LIMIT]


def find_lot(scan: str, site: Site) -> ReagentLot:
    lots = ReagentLot.objects.select_related("material").filter(site=site)
    try:
        label = gs1.parse_label(scan)
    except gs1.LabelUnreadable:
        label = None
    if label is not None:
        found = [lot for reading in label.readings for lot in lots.filter(
            gtin=reading.gtin, supplier_lot=reading.lot, serial_number=reading.serial_number)]
        if len(found) == 1:
            return found[0]
        if found:
            raise StepRefused("The scan matches more than one lot; scan the label again with "
                              "its separators.", code="lot_ambiguous", fields={"scan": ["?"]})
    else:
        found = list(lots.filter(supplier_lot=scan)[:2])
        if len(found) == 1:
            return found[0]
        if found:
            raise StepRefused(f"Lot number {scan} is on more than one received lot; scan the "
                              "GS1 label instead.", code="lot_ambiguous",
                              fields={"scan": ["Several lots."]})
    raise StepRefused(f"“{scan[:60]}” is not a lot received at {site.code}. Scan the reagent's "
                      "label (GS1) or its lot number.", code="lot_unknown",
                      fields={"scan": ["Unknown lot."]})


def quantity_for(material: StepMaterial, lot_scan: LotScan) -> tuple[Decimal, bool]:
    """(the quantity to consume, whether it departs from the master's tolerance)."""
    if lot_scan.quantity in (None, ""):
        return material.quantity, False
    quantity = plain_decimal(lot_scan.quantity)
    if quantity is None or quantity <= 0:
        raise StepRefused(f"The quantity of {material.material_code} must be a positive number.",
                          code="invalid_value", status=400,
                          fields={f"lots.{material.material_code}": ["A positive number."]})
    return quantity, abs(quantity - material.quantity) > material.tolerance


def match_lots(materials: list[StepMaterial], lots) -> list[tuple[StepMaterial, LotScan]]:
    """One scan per material of the step, before anything is consumed."""
    given: dict[str, LotScan] = {}
    for lot_scan in lots or ():
        code = (lot_scan.material_code or "").strip()
        if code not in {m.material_code for m in materials}:
            raise StepRefused(f"This step uses no material {code or '(none)'}.",
                              code="invalid_value", status=400,
                              fields={f"lots.{code}": ["Not a material of this step."]})
        if code in given:
            raise StepRefused(f"{code} was scanned twice; scan one lot per material.",
                              code="invalid_value", status=400,
                              fields={f"lots.{code}": ["Scanned twice."]})
        given[code] = lot_scan
    missing = [m for m in materials if not clean_scan(
        given[m.material_code].scan if m.material_code in given else "")]
    if missing:
        raise StepRefused(
            "Scan a lot of each material: " + ", ".join(
                f"{m.material_code} ({m.quantity} {m.unit})" for m in missing) + ".",
            code="lot_required", status=400,
            fields={f"lots.{m.material_code}": ["Scan a lot."] for m in missing})
    pairs = []
    for material in materials:
        lot_scan = given[material.material_code]
        _quantity, departs = quantity_for(material, lot_scan)
        if departs and not (lot_scan.substitution_reason or "").strip():
            raise StepRefused(
                f"{material.material_code}: {lot_scan.quantity} {material.unit} is outside "
                f"{material.quantity} ± {material.tolerance} {material.unit}. Give a reason for "
                "the substitution, or use the quantity of the master record.",
                code="substitution_reason_required", status=400,
                fields={f"lots.{material.material_code}": ["A reason is required."]})
        if departs:
            stops.clean_text(lot_scan.substitution_reason,
                             field=f"lots.{material.material_code}",
                             what="A reason for the substitution")
        pairs.append((material, lot_scan))
    return pairs


def consume(*, actor: User, run: StepRun, material: StepMaterial, lot_scan: LotScan,
            at: dt.datetime) -> StepScan:
    """Consume the scanned lot (reagents' rules: released, in date, right material, enough)."""
    from reagents.services import consume_lot

    scanned = clean_scan(lot_scan.scan)
    lot = find_lot(scanned, run.batch.site)
    required = Material.objects.filter(code=material.material_code).first()
    if required is None:
        raise StepRefused(f"Material {material.material_code} of the master record is not a "
                          "known material; tell QA.", code="material_unknown")
    quantity, departs = quantity_for(material, lot_scan)
    entry = consume_lot(user=actor, lot=lot, quantity=quantity, material=required, purpose=run,
                        batch_number=run.batch.number, patient_coi=run.batch.patient.coi, at=at)
    reason = (lot_scan.substitution_reason or "").strip() if departs else ""
    scan = StepScan(site_id=run.site_id, run=run, kind=StepScan.Kind.LOT, scanned=scanned,
                    material=material, lot=lot, quantity=quantity, stock_entry=entry,
                    substitution_reason=reason, scanned_by=actor, scanned_at=at,
                    revision=run.revision + 1)
    audit.stamp(scan, user=actor, reason=f"Lot scanned at step {run.step.code}")
    scan.save()
    if departs:
        record_exception(
            batch=run.batch, run=run, kind="substitution", actor=actor,
            code="quantity_out_of_tolerance", field_key=material.material_code[:48],
            value=f"{quantity} {material.unit}",
            detail=(f"{material.material_code}: {quantity} {material.unit} of lot "
                    f"{lot.supplier_lot} used instead of {material.quantity} ± "
                    f"{material.tolerance} {material.unit}. Reason: {reason}"))
    return scan


def find_equipment(scan: str, site: Site) -> Equipment:
    equipment = (Equipment.objects.select_related("suite__site", "equipment_type")
                 .filter(site=site, identifier=scan).first())
    if equipment is None:
        raise StepRefused(f"“{scan[:60]}” is not equipment registered at {site.code}. Scan the "
                          "equipment's identifier label.", code="equipment_unknown",
                          fields={"equipment_scan": ["Unknown equipment."]})
    return equipment


def check_equipment(equipment: Equipment, suite: Suite, type_code: str) -> None:
    if equipment.suite_id != suite.pk:
        raise StepRefused(f"{equipment.identifier} is in suite {equipment.suite.code}, not in "
                          f"suite {suite.code} where this batch is made. Use equipment of this "
                          "suite.", code="equipment_wrong_suite",
                          fields={"equipment_scan": ["Another suite's equipment."]})
    if equipment.equipment_type.code != type_code:
        raise StepRefused(f"{equipment.identifier} is a {equipment.equipment_type.name}; this step "
                          f"needs equipment of type {type_code}.", code="equipment_wrong_type",
                          fields={"equipment_scan": ["Wrong type of equipment."]})


def use_equipment(*, actor: User, run: StepRun, scanned: str, suite: Suite,
                  at: dt.datetime) -> StepScan:
    from scheduling.services.logbook import record_use

    equipment = find_equipment(scanned, run.batch.site)
    check_equipment(equipment, suite, run.step.equipment_type_code)
    entry = record_use(actor=actor, equipment=equipment, batch_number=run.batch.number,
                       patient_coi=run.batch.patient.coi, at=at,
                       text=f"Used at step {run.step.code} of batch {run.batch.number}")
    scan = StepScan(site_id=run.site_id, run=run, kind=StepScan.Kind.EQUIPMENT, scanned=scanned,
                    equipment=equipment, logbook_entry=entry, scanned_by=actor, scanned_at=at,
                    revision=run.revision + 1)
    audit.stamp(scan, user=actor, reason=f"Equipment scanned at step {run.step.code}")
    scan.save()
    return scan


def accept_label(*, actor: User, run: StepRun, scanned: str, at: dt.datetime) -> StepScan:
    reason, _message, _other = match_scan(run.batch.patient, scanned)
    if reason is not None:
        raise LabelRefused(scanned)
    scan = StepScan(site_id=run.site_id, run=run, kind=StepScan.Kind.PATIENT_LABEL,
                    scanned=scanned, scanned_by=actor, scanned_at=at, revision=run.revision + 1)
    audit.stamp(scan, user=actor, reason=f"Patient label scanned at step {run.step.code}")
    scan.save()
    return scan


def refuse_label(*, actor: User, run: StepRun, scanned: str) -> None:
    """Custody records the refusal (and its critical deviation for another patient's label);
    in the same transaction the batch records the exception, and a stop for a mismatch.
    Always raises custody's error."""
    verify_label_scan(
        actor=actor, patient=run.batch.patient, scan=scanned, site=run.batch.site,
        context=f"batch {run.batch.number} step {run.step.code}"[:100],
        on_refusal=lambda refusal, deviation: stops.record_label_refusal(
            actor=actor, run=run, refusal=refusal, deviation=deviation))
    raise StepRefused("The label was refused.", code="label_mismatch")  # not reached


def check_scan(*, actor: User, run: StepRun, kind: str, scan: str,
               terminal: Terminal | None) -> ScanCheck:
    """The terminal's instant check of one barcode against the step, for the people who
    work the steps (a wrong label is recorded in the scanner's name, with a deviation)."""
    if not (actor.has_perm(checks.PERFORM) or actor.has_perm(checks.VERIFY)):
        checks.require_permission(actor, checks.PERFORM, "scan at a batch's steps")
    run = StepRun.objects.select_related("batch__site", "batch__patient", "step").get(pk=run.pk)
    checks.require_site(actor, run.batch)
    checks.check_executable(run.batch)
    now = timezone.now()
    suite = checks.booked_suite(run.batch, now)
    checks.check_terminal(terminal, suite)
    scanned = clean_scan(scan)
    if kind == StepScan.Kind.PATIENT_LABEL:
        return _check_label(actor, run, scanned)
    if kind not in (StepScan.Kind.LOT, StepScan.Kind.EQUIPMENT):
        raise StepRefused("Scan a patient label, a lot or equipment.", code="invalid_value",
                          status=400, fields={"kind": ["Unknown kind of scan."]})
    try:
        found = (_check_lot(run, scanned, now) if kind == StepScan.Kind.LOT
                 else _check_equipment(run, scanned, suite, now))
    except DomainError as error:
        found = ScanCheck(False, error.message, kind, code=error.code)
    if not found.ok and scanned:
        # A refused lot or equipment is a refused scan of the batch (issue 12 §4), recorded as
        # it happens, whether or not the step is then performed.
        stops.record_refused_scan(actor=actor, run=run, kind=kind, scanned=scanned,
                                  error=DomainError(found.message, code=found.code or "refused"))
    return found


def _check_equipment(run: StepRun, scanned: str, suite: Suite, now) -> ScanCheck:
    kind = StepScan.Kind.EQUIPMENT
    if not run.step.equipment_type_code:
        return ScanCheck(False, "This step uses no equipment.", kind,
                         code="equipment_not_expected")
    equipment = find_equipment(scanned, run.batch.site)
    check_equipment(equipment, suite, run.step.equipment_type_code)
    problems = usability_problems(equipment, now)
    if problems:
        return ScanCheck(False, " ".join(problems), kind, equipment.identifier,
                         "equipment_not_usable")
    return ScanCheck(True, f"{equipment.identifier} ({equipment.equipment_type.name}) "
                     "is ready for use.", kind, equipment.identifier)


def _check_label(actor: User, run: StepRun, scanned: str) -> ScanCheck:
    reason, message, _other = match_scan(run.batch.patient, scanned)
    if reason is None:
        return ScanCheck(True, f"Label matches {run.batch.patient.coi}.",
                         StepScan.Kind.PATIENT_LABEL, run.batch.patient.coi)
    try:
        if reason in ("other_patient", "unknown_identifier"):
            refuse_label(actor=actor, run=run, scanned=scanned)
    except LabelMismatch as error:
        return ScanCheck(False, error.message, StepScan.Kind.PATIENT_LABEL,
                         code=error.code, stopped=True)
    return ScanCheck(False, message, StepScan.Kind.PATIENT_LABEL, code=reason)


def _check_lot(run: StepRun, scanned: str, now: dt.datetime) -> ScanCheck:
    lot = find_lot(scanned, run.batch.site)
    name = f"Lot {lot.supplier_lot} ({lot.material.code})"
    needed = next((m for m in run.step.materials.all()
                   if m.material_code == lot.material.code), None)
    if needed is None:
        return ScanCheck(False, f"{name} is not a material of this step.", "lot", name,
                         "wrong_material")
    if lot.status != LotStatus.RELEASED:
        return ScanCheck(False, f"{name} is {lot.get_status_display().lower()}.", "lot", name,
                         LOT_REFUSALS.get(lot.status, "lot_not_released"))
    if lot.is_past_expiry(now):
        return ScanCheck(False, f"{name} expired on {lot.expiry_date:%Y-%m-%d}.", "lot", name,
                         "lot_expired")
    if lot.quantity_on_hand < needed.quantity:
        return ScanCheck(False, f"{name} has {lot.quantity_on_hand} {lot.material.unit} on "
                         f"hand; the step needs {needed.quantity}.", "lot", name,
                         "insufficient_quantity")
    return ScanCheck(True, f"{name} is released and in date.", "lot", name)
