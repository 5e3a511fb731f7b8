"""Orders from clinical sites: the patient, the COI number and the order's timeline.

An order creates the pseudonymised patient, the separate clinical identity, and the COI
(an ISBT 128 DIN drawn from a locked counter, or the sponsor's identifier in the format the
product prescribes). The order then moves along one transition table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from custody import din as isbt
from custody.models import (
    ClinicalIdentity,
    ClinicalIdentityAccess,
    DinCounter,
    Order,
    OrderStatusChange,
    Patient,
    Product,
)
from custody.models.patients import ALLOWED, can_move
from mes import audit
from mes.errors import Conflict, DomainError, PermissionRefused, ReasonForChangeRequired
from mes.models import Site, User


def _require(actor: User, permission: str, action: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")


def _require_site(actor: User, site: Site) -> None:
    if not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {site.code}.")


def allocate_din(*, actor: User, facility: str, year: int) -> isbt.DIN:
    """The next DIN of a facility and year. The counter row is locked until the caller's
    transaction ends, so concurrent orders get consecutive numbers, never the same one,
    and a rolled-back order gives its number back."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocate_din must run inside the order's transaction")
    year %= 100
    counter = (DinCounter.objects.select_for_update()
               .filter(facility_identification_number=facility, year=year).first())
    if counter is None:
        try:
            with transaction.atomic():
                DinCounter.objects.create(facility_identification_number=facility, year=year)
        except IntegrityError:
            pass  # another order created it first; lock theirs
        counter = DinCounter.objects.select_for_update().get(
            facility_identification_number=facility, year=year)
    sequence = counter.last_sequence + 1
    number = isbt.compose(facility, year, sequence)
    counter.last_sequence = sequence
    audit.stamp(counter, user=actor, reason=f"DIN {number} allocated")
    counter.save()
    return isbt.DIN(din=number)


@dataclass(frozen=True)
class OrderRequest:
    product: Product
    manufacturing_site: Site
    ordering_site: Site
    initials: str
    date_of_birth: date
    planned_collection_date: date
    full_name: str
    hospital_record_number: str
    external_coi: str = ""
    external_reference: str = ""


def _check_request(request: OrderRequest) -> tuple[str, str]:
    initials = "".join(request.initials.split()).upper()
    if not 1 <= len(initials.replace(".", "")) <= 4:
        raise DomainError("Initials are one to four letters.", code="invalid",
                          fields={"initials": ["One to four letters."]})
    if request.date_of_birth >= timezone.localdate():
        raise DomainError("The date of birth must be in the past.", code="invalid",
                          fields={"date_of_birth": ["Must be in the past."]})
    if not request.full_name.strip() or not request.hospital_record_number.strip():
        raise DomainError("The clinical identity needs the full name and hospital record "
                          "number.", code="invalid",
                          fields={"full_name": ["Required."], "hospital_record_number":
                                  ["Required."]})
    if request.ordering_site.kind != Site.Kind.CLINICAL:
        raise DomainError(f"{request.ordering_site.code} is not a clinical site; orders come "
                          "from the patient's treating site.", code="invalid",
                          fields={"ordering_site": ["Not a clinical site."]})
    if request.manufacturing_site.kind == Site.Kind.CLINICAL:
        raise DomainError(f"{request.manufacturing_site.code} is a clinical site, not a "
                          "manufacturing site.", code="invalid",
                          fields={"manufacturing_site": ["Not a manufacturing site."]})
    if not request.product.is_active:
        raise DomainError(f"{request.product.code} is not accepting orders.", code="invalid")
    return initials, request.hospital_record_number.strip()


@transaction.atomic
def place_order(*, actor: User, request: OrderRequest) -> Order:
    """A clinical site's order: the patient, their COI, their clinical identity and the
    planned collection, all or nothing."""
    _require(actor, "custody.add_order", "place orders")
    _require_site(actor, request.ordering_site)
    initials, hospital_number = _check_request(request)
    product = request.product
    dinumber = None
    if product.uses_isbt128:
        if request.external_coi:
            raise DomainError(f"{product.code} uses ISBT 128 DINs assigned by the plant; do "
                              "not send a COI.", code="invalid",
                              fields={"external_coi": ["Not used for this product."]})
        facility = request.manufacturing_site.facility_identification_number
        if not facility:
            raise DomainError(f"{request.manufacturing_site.code} has no ISBT 128 facility "
                              "identification number; it cannot assign DINs.",
                              code="no_facility_number")
        year = timezone.now().astimezone(request.manufacturing_site.zone).year
        dinumber = allocate_din(actor=actor, facility=facility, year=year)
        coi = dinumber.din
    else:
        coi = product.check_external_coi(request.external_coi)
        if Patient.objects.filter(coi=coi).exists():
            raise Conflict(f"The COI {coi} is already assigned to another patient.",
                           code="coi_taken", fields={"external_coi": ["Already assigned."]})
    reason = f"Order from {request.ordering_site.code}"
    patient = Patient(coi=coi, din=dinumber.din if dinumber else "",
                      din_flags=dinumber.flags if dinumber else "", product=product,
                      site=request.manufacturing_site, treating_site=request.ordering_site,
                      initials=initials, date_of_birth=request.date_of_birth)
    audit.stamp(patient, user=actor, reason=reason)
    patient.save()
    identity = ClinicalIdentity(patient=patient, site=request.ordering_site,
                                full_name=request.full_name.strip(),
                                hospital_record_number=hospital_number)
    audit.stamp(identity, user=actor, reason=reason)
    identity.save()
    order = Order(patient=patient, site=request.manufacturing_site,
                  ordering_site=request.ordering_site, ordered_by=actor,
                  external_reference=request.external_reference.strip(),
                  planned_collection_date=request.planned_collection_date)
    audit.stamp(order, user=actor, reason=reason)
    order.save()
    _timeline(order, Order.Status.ORDERED, actor=actor, reason=reason)
    return order


def _timeline(order: Order, status: str, *, actor: User, reason: str) -> None:
    change = OrderStatusChange(order=order, site=order.site, status=status, changed_by=actor,
                               reason=reason)
    audit.stamp(change, user=actor, reason=reason)
    change.save()


def move_order(*, actor: User, order: Order, status: str, reason: str) -> Order:
    """Move the order to ``status`` if the transition table allows it (the caller holds the
    transaction and has checked authority)."""
    if status not in Order.Status.values:
        raise DomainError(f"“{status}” is not a stage of an order.", code="invalid",
                          fields={"status": ["Unknown stage."]})
    if not can_move(order.status, status):
        allowed = ", ".join(Order.Status(s).label for s in sorted(ALLOWED[order.status]))
        raise DomainError(
            f"The order is {order.get_status_display().lower()}; it cannot become "
            f"“{Order.Status(status).label}”" + (f" (next: {allowed})." if allowed else "."),
            code="invalid_transition")
    order.status = status
    if status == Order.Status.CANCELLED:
        order.cancel_reason = reason
    audit.stamp(order, user=actor, reason=reason)
    order.save()
    _timeline(order, status, actor=actor, reason=reason)
    patient_status = {Order.Status.CANCELLED: Patient.Status.WITHDRAWN,
                      Order.Status.INFUSED: Patient.Status.COMPLETED}.get(status)
    if patient_status:
        patient = order.patient
        patient.status = patient_status
        audit.stamp(patient, user=actor, reason=reason)
        patient.save()
    return order


@transaction.atomic
def advance_order(*, actor: User, order: Order, status: str, reason: str) -> Order:
    """Record a stage of the order's journey (e.g. collection scheduled); stages follow one
    another in the fixed order, and cancellation needs a reason."""
    _require(actor, "custody.change_order", "update orders")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    order = Order.objects.select_for_update().select_related("patient").get(pk=order.pk)
    if not (actor.has_site(order.site) or actor.has_site(order.ordering_site)):
        raise PermissionRefused(f"{actor.full_name} has no access to this order's sites.")
    return move_order(actor=actor, order=order, status=status, reason=reason)


@transaction.atomic
def reveal_clinical_identity(*, actor: User, patient: Patient, purpose: str,
                             remote_addr: str = "") -> ClinicalIdentity:
    """The patient's clinical identity, for those with the dedicated permission at one of
    the patient's sites; every view is logged with its purpose."""
    _require(actor, "custody.reveal_clinical_identity", "see clinical identities")
    if not (actor.has_site(patient.site) or actor.has_site(patient.treating_site)):
        raise PermissionRefused(f"{actor.full_name} has no access to this patient's sites.")
    purpose = (purpose or "").strip()
    if not purpose:
        raise DomainError("Say why you need to see the patient's identity.", code="invalid",
                          fields={"purpose": ["Required."]})
    identity = ClinicalIdentity.objects.get(patient=patient)
    access = ClinicalIdentityAccess(identity=identity, site=identity.site, user=actor,
                                    purpose=purpose[:300], remote_addr=remote_addr[:64])
    audit.stamp(access, user=actor, reason=purpose)
    access.save()
    return identity
