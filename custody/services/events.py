"""Custody events: every handoff of a patient's material, proven by a label scan and signed
by the person who performed it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from custody.models import CustodyEvent, Order, Patient, Shipment
from custody.models.custody import RECEIVING, SHIPPING, EventKind
from custody.services.orders import advance_order_from_event, check_event_sequence
from custody.services.scans import verify_label_scan
from custody.signals import material_received
from mes import audit
from mes.errors import DomainError, PermissionRefused
from mes.models import Meaning, Site, User
from mes.services.signatures import apply_signature, reauthenticate

# A handoff may be recorded a little after it happened, never in the future.
CLOCK_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class Handoff:
    patient: Patient
    site: Site
    kind: str
    container_id: str
    label_scan: str
    occurred_at: datetime | None = None
    location: str = ""
    position: str = ""
    shipment: Shipment | None = None
    note: str = ""


def check_handoff(*, actor: User, handoff: Handoff) -> None:
    """What can be refused before the scan is checked and the password asked for."""
    if not actor.has_perm("custody.add_custodyevent"):
        raise PermissionRefused(f"{actor.full_name} is not authorised to record handoffs.")
    if not actor.has_site(handoff.site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {handoff.site.code}.")
    patient = handoff.patient
    if handoff.site.pk not in (patient.site_id, patient.treating_site_id):
        raise DomainError(f"{handoff.site.code} is neither the manufacturing nor the treating "
                          f"site of {patient.coi}.", code="wrong_site",
                          fields={"site": ["Not this patient's site."]})
    if handoff.kind not in EventKind.values:
        raise DomainError(f"“{handoff.kind}” is not a custody event.", code="invalid",
                          fields={"kind": ["Unknown event."]})
    if not (handoff.container_id or "").strip():
        raise DomainError("Scan or type the container or bag identifier.", code="invalid",
                          fields={"container_id": ["Required."]})
    if handoff.kind == EventKind.STORED and not handoff.location.strip():
        raise DomainError("A storage event needs the location (and position).", code="invalid",
                          fields={"location": ["Required for storage."]})
    if handoff.occurred_at and handoff.occurred_at > timezone.now() + CLOCK_TOLERANCE:
        raise DomainError("A handoff cannot be recorded in the future.", code="invalid",
                          fields={"occurred_at": ["In the future."]})
    if handoff.shipment is not None and handoff.shipment.patient_id != patient.pk:
        raise DomainError(f"Shipment {handoff.shipment.reference} carries another patient's "
                          "material.", code="invalid", fields={"shipment": ["Other patient."]})
    if patient.status == Patient.Status.WITHDRAWN:
        raise DomainError(f"The order for {patient.coi} is cancelled.", code="order_cancelled")
    check_event_sequence(Order.objects.filter(patient=patient).first(), handoff.kind)


def record_custody_event(*, actor: User, password: str, handoff: Handoff, reason: str = "",
                         request: HttpRequest | None = None) -> CustodyEvent:
    """Record one handoff, signed by its performer. The password is checked first (failed
    attempts count toward lockout); a scan that is not this patient's label is refused
    and leaves its trace (and, for a mix-up, a critical deviation) before anything else."""
    check_handoff(actor=actor, handoff=handoff)
    signer = reauthenticate(user=actor, password=password, request=request)
    kind_label = EventKind(handoff.kind).label.lower()
    verify_label_scan(actor=actor, patient=handoff.patient, scan=handoff.label_scan,
                      site=handoff.site, context=kind_label)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=handoff.patient.pk)
        event = CustodyEvent(
            patient=patient, site=handoff.site, kind=handoff.kind,
            occurred_at=handoff.occurred_at or timezone.now(), performed_by=actor,
            container_id=handoff.container_id.strip(), location=handoff.location.strip(),
            position=handoff.position.strip(), label_scan=handoff.label_scan.strip()[:100],
            shipment=handoff.shipment, note=handoff.note.strip())
        why = reason.strip() or f"{EventKind(handoff.kind).label} recorded"
        audit.stamp(event, user=actor, reason=why)
        event.save()
        apply_signature(signer=signer, record=event, meaning=Meaning.PERFORMED, reason=why)
        _follow_shipment(actor=actor, event=event)
        advance_order_from_event(actor=actor, event=event)
        if event.kind == EventKind.RECEIVED and event.site_id == patient.site_id:
            material_received.send(sender=CustodyEvent, patient=patient, event=event,
                                   actor=actor)
    return event


def _follow_shipment(*, actor: User, event: CustodyEvent) -> None:
    if event.shipment_id is None:
        return
    shipment = Shipment.objects.select_for_update().get(pk=event.shipment_id)
    target = None
    if event.kind in SHIPPING and shipment.status == Shipment.Status.PLANNED:
        target = Shipment.Status.IN_TRANSIT
    elif event.kind in RECEIVING and shipment.status in (Shipment.Status.PLANNED,
                                                         Shipment.Status.IN_TRANSIT):
        target = Shipment.Status.DELIVERED
    if target:
        shipment.status = target
        audit.stamp(shipment, user=actor, reason=f"{event.get_kind_display()} "
                                                 f"(custody event {event.pk})")
        shipment.save()

