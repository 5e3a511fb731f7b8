"""Orders from clinical sites: the patient, the COI number and the order's timeline.

An order creates the pseudonymised patient, the separate clinical identity, and the COI
(an ISBT 128 DIN drawn from a locked counter, or the sponsor's identifier in the format the
product prescribes). The order then moves along one transition table, driven by the custody
events and the batch record; by hand only to schedule the collection or to cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from custody import din as isbt
from custody.models import (
    ClinicalIdentity,
    ClinicalIdentityAccess,
    CustodyEvent,
    DinCounter,
    Order,
    OrderStatusChange,
    Patient,
    Product,
)
from custody.models.custody import ORDER_STATUS_AFTER
from custody.models.patients import ALLOWED, JOURNEY, can_move
from custody.signals import order_cancelled, order_entered_manufacturing
from mes import audit
from mes.errors import Conflict, DomainError, PermissionRefused, ReasonForChangeRequired
from mes.models import Site, User
from mes.services.sites import site_today

# No one alive was born before this; an earlier date is a typing error (e.g. 1066 for 1966).
EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)
DEFAULT_COLLECTION_HORIZON_DAYS = 365


def collection_horizon() -> timedelta:
    """How far ahead a collection may be planned (setting CUSTODY_COLLECTION_HORIZON_DAYS)."""
    return timedelta(days=getattr(settings, "CUSTODY_COLLECTION_HORIZON_DAYS",
                                  DEFAULT_COLLECTION_HORIZON_DAYS))


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
    _check_dates(request)
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


def _check_dates(request: OrderRequest) -> None:
    """Dates a person at the treating site typed: checked against that site's own today,
    not the server's UTC date, so an order placed after midnight local time is not refused
    (or a day in the future let through) because of the clock's zone."""
    site = request.ordering_site
    today = site_today(site)
    born = request.date_of_birth
    if born > today:
        raise DomainError(
            f"The date of birth {born.isoformat()} is after today ({today.isoformat()} at "
            f"{site.code}); it must be in the past or today.",
            code="date_of_birth_in_future",
            fields={"date_of_birth": [f"Must not be after {today.isoformat()}."]})
    if born < EARLIEST_DATE_OF_BIRTH:
        raise DomainError(
            f"The date of birth {born.isoformat()} is before "
            f"{EARLIEST_DATE_OF_BIRTH.isoformat()}; check the year.",
            code="date_of_birth_too_early",
            fields={"date_of_birth": [f"Must be {EARLIEST_DATE_OF_BIRTH.isoformat()} or "
                                      "later."]})
    planned = request.planned_collection_date
    if planned < today:
        raise DomainError(
            f"The planned collection date {planned.isoformat()} is in the past (today is "
            f"{today.isoformat()} at {site.code}).", code="collection_date_in_past",
            fields={"planned_collection_date": [f"Must be {today.isoformat()} or later."]})
    latest = today + collection_horizon()
    if planned > latest:
        raise DomainError(
            f"The planned collection date {planned.isoformat()} is more than "
            f"{collection_horizon().days} days ahead; plan it by {latest.isoformat()}.",
            code="collection_date_too_far",
            fields={"planned_collection_date": [f"Must be {latest.isoformat()} or earlier."]})


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


S = Order.Status
# The order's stage follows what happened to the material: custody events move it (see
# ORDER_STATUS_AFTER) and the batch record moves it into manufacturing and to release. A
# person may only record what no event stands behind: the collection being scheduled, and
# the cancellation, each with a reason.
MANUAL_STAGES = frozenset({S.COLLECTION_SCHEDULED, S.CANCELLED})
EVENT_STAGES = frozenset(ORDER_STATUS_AFTER.values())
BATCH_STAGES = frozenset({S.IN_MANUFACTURING, S.RELEASED})
# Nothing leaves the plant, reaches the treating site or is infused before QP release.
AFTER_RELEASE = frozenset(JOURNEY[JOURNEY.index(S.RELEASED) + 1:])


def _reached(order: Order, stage: str) -> bool:
    return order.status in JOURNEY and JOURNEY.index(order.status) >= JOURNEY.index(stage)


def check_event_sequence(order: Order | None, kind: str) -> None:
    """Refuse a custody event that would carry the order past release while the product is
    not released (shipping to the treating site, receipt there, infusion): a chain that
    skips QP release must not read as complete."""
    target = ORDER_STATUS_AFTER.get(kind)
    if order is None or target not in AFTER_RELEASE or _reached(order, S.RELEASED):
        return
    raise DomainError(
        f"The product for {order.patient.coi} is not released (the order is at "
        f"“{order.get_status_display()}”): it cannot be shipped to the treating site, "
        "received there or infused.", code="not_released",
        fields={"kind": ["Not released yet."]})


def _move_order(*, actor: User, order: Order, status: str, reason: str) -> Order:
    """Move the locked ``order`` to ``status`` if the transition table allows it, with its
    timeline entry (the caller holds the transaction and has checked who may)."""
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
    if status == Order.Status.CANCELLED:
        order_cancelled.send(sender=Order, order=order, actor=actor, reason=reason)
    if status == Order.Status.IN_MANUFACTURING:
        order_entered_manufacturing.send(sender=Order, order=order, actor=actor, reason=reason)
    return order


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("patient").get(pk=order.pk)


def _not_manual(status: str) -> DomainError:
    label = Order.Status(status).label
    if status in EVENT_STAGES:
        why = "it is reached when the custody event is scanned and signed"
    else:
        why = "it is reached from the batch record"
    return DomainError(f"“{label}” cannot be set by hand: {why}. By hand you may only record "
                       "that the collection is scheduled, or cancel the order.",
                       code="stage_not_manual", fields={"status": ["Not a manual stage."]})


@transaction.atomic
def advance_order(*, actor: User, order: Order, status: str, reason: str) -> Order:
    """Record, by hand and with a reason, one of the stages no event stands behind: the
    collection scheduled, or the order cancelled. Every other stage follows the custody
    events and the batch record, never a person's choice."""
    _require(actor, "custody.change_order", "update orders")
    if status not in Order.Status.values:
        raise DomainError(f"“{status}” is not a stage of an order.", code="invalid",
                          fields={"status": ["Unknown stage."]})
    if status not in MANUAL_STAGES:
        raise _not_manual(status)
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    order = _locked(order)
    if not (actor.has_site(order.site) or actor.has_site(order.ordering_site)):
        raise PermissionRefused(f"{actor.full_name} has no access to this order's sites.")
    return _move_order(actor=actor, order=order, status=status, reason=reason)


def manual_stages(order: Order) -> list[str]:
    """The stages a person may record on this order now (for the page's choices)."""
    return [s for s in Order.Status.values if s in MANUAL_STAGES and can_move(order.status, s)]


def advance_order_from_event(*, actor: User, event: CustodyEvent) -> Order | None:
    """The custody event service, inside the transaction that records ``event``: move the
    patient's order to the stage the event proves, if it is ahead of where the order is.
    An event that proves no new stage (a storage move, a stage already passed) leaves the
    order as it is; the chain of custody shows any break in the sequence."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("advance_order_from_event must run in the event's transaction")
    target = ORDER_STATUS_AFTER.get(event.kind)
    order = Order.objects.select_for_update().select_related("patient").filter(
        patient_id=event.patient_id).first()
    check_event_sequence(order, event.kind)  # again under the lock; refusing undoes the event
    if target is None or order is None or not can_move(order.status, target):
        return None
    return _move_order(actor=actor, order=order, status=target,
                       reason=f"{event.get_kind_display()} (custody event {event.pk})")


@transaction.atomic
def advance_order_from_batch(*, actor: User, order: Order, status: str, reason: str) -> Order:
    """For the batch record app: the patient's batch has started manufacturing or has been
    released. Only those stages, only forward along the transition table, with the reason
    naming the batch record; the caller has checked the actor's authority for the batch
    action itself."""
    if status not in BATCH_STAGES:
        raise DomainError(
            f"The batch record can move an order only into manufacturing or to release, not "
            f"to “{status}”.", code="stage_not_from_batch",
            fields={"status": ["Not a batch stage."]})
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    order = _locked(order)
    # Manufacturing starts on material received at the plant; release follows manufacturing.
    ready = (_reached(order, S.RECEIVED) and not _reached(order, S.IN_MANUFACTURING)
             if status == S.IN_MANUFACTURING else order.status == S.IN_MANUFACTURING)
    if not ready:
        raise DomainError(
            f"The order is at “{order.get_status_display()}”: the batch record cannot move it "
            f"to “{Order.Status(status).label}”.", code="stage_out_of_sequence",
            fields={"status": ["Out of sequence."]})
    return _move_order(actor=actor, order=order, status=status, reason=reason)


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
