"""Label scans: the proof, at every touch, that the material is this patient's.

A scan that cannot be read (not a DIN, wrong check character) is refused and logged. A
scan of another patient's label, or of an identifier that is not this patient's, is a
mix-up: it is refused, logged, and raises a critical deviation with patient impact. The
refusal and the deviation are committed before the error goes back to the person, so the
refused scan always leaves its trace.
"""

from __future__ import annotations

from django.db import transaction

from custody import din as isbt
from custody.models import Patient, ScanRefusal
from mes import audit
from mes.errors import DomainError
from mes.models import Site, User


class LabelMismatch(DomainError):
    code = "label_mismatch"
    status = 409


def _normalise(scan: str) -> str:
    return "".join((scan or "").split())


def match_scan(patient: Patient, scan: str) -> tuple[str | None, str, Patient | None]:
    """(refusal reason or None, message, the patient the label belongs to)."""
    if patient.din:
        try:
            scanned = isbt.parse(scan)
        except isbt.InvalidScan as error:
            reason = (ScanRefusal.Reason.WRONG_CHECK if error.code == "wrong_check_character"
                      else ScanRefusal.Reason.UNREADABLE)
            return reason, error.message, None
        if scanned.din == patient.din:
            return None, "", patient
        identifier = scanned.din
        other = Patient.objects.filter(din=identifier).first()
    else:
        identifier = _normalise(scan).upper()
        if not identifier:
            return ScanRefusal.Reason.UNREADABLE, "Nothing was scanned. Scan the label.", None
        if identifier == patient.coi.upper():
            return None, "", patient
        other = Patient.objects.filter(coi__iexact=identifier).first()
    if other is not None:
        return (ScanRefusal.Reason.OTHER_PATIENT,
                f"WRONG PATIENT: the label scanned ({identifier}) belongs to another patient, "
                f"not to {patient.coi}. Stop, quarantine the material and call QA; a critical "
                "deviation has been raised.", other)
    return (ScanRefusal.Reason.UNKNOWN_IDENTIFIER,
            f"WRONG LABEL: {identifier} is not the COI of this patient ({patient.coi}). Stop, "
            "quarantine the material and call QA; a critical deviation has been raised.", None)


def verify_label_scan(*, actor: User, patient: Patient, scan: str, site: Site,
                      context: str, on_refusal=None) -> None:
    """Refuse (and record) a scan that does not prove this is ``patient``'s material.

    Call it outside the transaction of the action it guards: the refusal and its deviation
    commit on their own, then the error is raised. ``on_refusal(refusal, deviation)`` runs
    inside that transaction, so a caller's own record of the refusal (e.g. a batch's
    exception and stop) commits with it; ``deviation`` is None for an unreadable scan."""
    reason, message, other = match_scan(patient, scan)
    if reason is None:
        return
    with transaction.atomic():
        refusal = ScanRefusal(patient=patient, site=site, scanned=(scan or "")[:200],
                              reason=reason, message=message, context=context[:100],
                              matched_patient=other, scanned_by=actor)
        audit.stamp(refusal, user=actor, reason=f"Refused label scan during {context}")
        refusal.save()
        deviation = None
        if refusal.is_mismatch:
            deviation = _raise_mismatch_deviation(actor=actor, refusal=refusal)
        if on_refusal is not None:
            on_refusal(refusal, deviation)
    if refusal.is_mismatch:
        raise LabelMismatch(message, fields={"scan": ["Not this patient's label."]})
    raise isbt.InvalidScan(message, code=reason, fields={"scan": [message]})


def _raise_mismatch_deviation(*, actor: User, refusal: ScanRefusal):
    from deviations.services import raise_deviation

    patient = refusal.patient
    other = f" It belongs to patient {refusal.matched_patient.coi}." if refusal.matched_patient \
        else ""
    return raise_deviation(
        reporter=actor, site=refusal.site, subject=refusal,
        title=f"Label mismatch for {patient.coi} during {refusal.context}",
        description=(f"{actor.full_name} scanned “{refusal.scanned}” at {refusal.site.code} "
                     f"while handling the material of patient {patient.coi} "
                     f"({refusal.context}). The scan was refused.{other}"),
        classification="critical", patient_impact="yes", patient_coi=patient.coi,
        source="automatic", rule="custody.label_mismatch",
        data={"scanned": refusal.scanned, "expected_coi": patient.coi,
              "matched_coi": refusal.matched_patient.coi if refusal.matched_patient else "",
              "context": refusal.context, "scan_refusal_id": refusal.pk},
    )
