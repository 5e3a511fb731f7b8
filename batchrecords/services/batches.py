"""Opening a patient's batch record and moving it through its statuses.

A batch is opened from the product's effective master version at the patient's manufacturing
site, on receipt of the apheresis material (custody's ``material_received``), and that version
stays pinned to it. A patient may have later batches (a remanufacture after a failure, a
second apheresis): each names the batch it follows and why, under the same chain of identity.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from batchrecords.models import (
    Batch,
    BatchCounter,
    BatchStatus,
    MasterRecordVersion,
    Step,
    StepRun,
    check_batch_transition,
)
from batchrecords.services import feasibility
from batchrecords.services._common import require_permission, require_reason
from custody.models import CustodyEvent, Order, Patient
from custody.models.custody import EventKind
from mes import audit
from mes.errors import Conflict, DomainError, NotFound
from mes.models import User
from scheduling.models import Booking

logger = logging.getLogger(__name__)

OPEN = "batchrecords.add_batch"
CHANGE = "batchrecords.change_batch"
# A batch in one of these is finished with: the patient's next batch may be opened.
FINISHED_BATCH = (BatchStatus.RELEASED, BatchStatus.REJECTED, BatchStatus.CANCELLED)


class BatchRefused(DomainError):
    code = "batch_refused"
    status = 409


def effective_version(patient: Patient) -> MasterRecordVersion:
    version = (
        MasterRecordVersion.objects.filter(
            master__product_id=patient.product_id, master__site_id=patient.site_id,
            status=MasterRecordVersion.Status.EFFECTIVE,
        ).select_related("master").first()
    )
    if version is None:
        raise BatchRefused(
            f"{patient.product.code} has no effective master batch record at "
            f"{patient.site.code}: QA approves one before a batch can be opened.",
            code="no_effective_version",
        )
    return version


def _number(site, year: int) -> str:
    counter, _ = BatchCounter.objects.select_for_update().get_or_create(
        site=site, year=year, defaults={"last": 0})
    counter.last += 1
    audit.stamp(counter, user=audit.system_user(), reason="Batch number taken")
    counter.save()
    return f"{site.code}-B{year}-{counter.last:05d}"


def stages(steps: list[Step]) -> list[int]:
    """The stage of each step (in procedure order): consecutive steps of one operation with
    the same parallel group share a stage and run in any order; every other step is a stage
    of its own."""
    result, stage, previous = [], 0, None
    for step in steps:
        key = (step.operation_id, step.parallel_group) if step.parallel_group else None
        if key is None or key != previous:
            stage += 1
        result.append(stage)
        previous = key
    return result


def _runs(batch: Batch, version: MasterRecordVersion, actor: User) -> None:
    steps = list(
        Step.objects.filter(operation__version=version)
        .order_by("operation__position", "position")
    )
    runs = [
        StepRun(site_id=batch.site_id, batch=batch, step=step, sequence=index, stage=stage)
        for index, (step, stage) in enumerate(zip(steps, stages(steps), strict=True), start=1)
    ]
    audit.bulk_create_with_history(runs, StepRun, user=actor,
                                   reason=f"Batch {batch.number} opened")


def _material_received(patient: Patient) -> bool:
    return CustodyEvent.objects.filter(patient=patient, site_id=patient.site_id,
                                       kind=EventKind.RECEIVED).exists()


def _check_previous(patient: Patient, previous: Batch | None, latest: Batch | None) -> None:
    """A later batch follows the patient's latest one, so their batches read as one chain."""
    if previous is None or previous.patient_id != patient.pk:
        raise DomainError("A later batch names the earlier batch of this patient it follows.",
                          code="invalid",
                          fields={"previous": ["An earlier batch of this patient."]})
    if latest is not None and previous.pk != latest.pk:
        raise DomainError(f"A later batch follows the patient's latest batch, {latest.number}.",
                          code="invalid", fields={"previous": [f"Not {latest.number}."]})


def _active_booking(order: Order) -> Booking | None:
    return Booking.objects.active().filter(order=order).first()


@transaction.atomic
def open_batch(*, actor: User, patient: Patient, booking: Booking | None = None,
               origin: str = Batch.Origin.FIRST, previous: Batch | None = None,
               reason: str = "", automatic: bool = False) -> Batch:
    """Open ``patient``'s batch from the effective master version (pinned to it).

    A first batch opened by hand needs the material received at the plant; a later batch (a
    remanufacture, a second apheresis) gives its reason and follows the patient's latest
    batch, once that one is released, rejected or cancelled. ``automatic`` is the receipt of
    the material opening the first batch in the name of the person who received it; a batch
    opened by hand needs the permission."""
    if not automatic:
        require_permission(actor, OPEN, "open batch records")
    patient = (Patient.objects.select_for_update(of=("self",))
               .select_related("product", "site").get(pk=patient.pk))
    if not automatic and not actor.has_site(patient.site):
        raise NotFound("No such patient.")
    if origin not in Batch.Origin.values:
        raise DomainError("Unknown kind of batch.", code="invalid",
                          fields={"origin": ["Unknown."]})
    order = Order.objects.filter(patient=patient).first()
    if order is None or order.status == Order.Status.CANCELLED:
        raise BatchRefused(f"{patient.coi} has no open order; no batch can be opened.",
                           code="order_cancelled")
    if patient.status != Patient.Status.ACTIVE:
        raise BatchRefused(f"{patient.coi} is {patient.get_status_display().lower()}.",
                           code="patient_not_active")
    earlier = patient.batches.order_by("-opened_at", "-pk").first()
    if origin == Batch.Origin.FIRST:
        if earlier is not None:
            raise Conflict(f"{patient.coi} already has batch {earlier.number}; a later batch "
                           "is a remanufacture or a second apheresis, with a reason.",
                           code="already_opened")
        if not automatic and not _material_received(patient):
            raise BatchRefused(
                f"The apheresis material of {patient.coi} has not been received at "
                f"{patient.site.code}: record the receipt (its label scanned) first.",
                code="material_not_received")
        reason = (reason or "").strip()
    else:
        reason = require_reason(reason)
    unfinished = patient.batches.exclude(status__in=FINISHED_BATCH).first()
    if unfinished is not None:
        raise Conflict(
            f"{patient.coi} has batch {unfinished.number}, "
            f"{unfinished.get_status_display().lower()}: it is released, rejected or "
            "cancelled before another batch is opened.", code="batch_in_progress")
    if origin != Batch.Origin.FIRST:
        _check_previous(patient, previous, earlier)
    version = effective_version(patient)
    if booking is None:
        booking = _active_booking(order)
    elif booking.order_id != order.pk:
        raise DomainError("The booking is another patient's.", code="invalid",
                          fields={"booking": ["Another patient's booking."]})
    now = timezone.now()
    batch = Batch(
        site_id=patient.site_id, patient=patient, order=order, version=version,
        booking=booking, origin=origin, previous=previous, origin_reason=reason,
        opened_at=now, opened_by=actor,
        number=_number(patient.site, timezone.localtime(now, patient.site.zone).year),
    )
    audit.stamp(batch, user=actor, reason=reason or f"Batch opened for {patient.coi}")
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError as error:
        raise Conflict(f"{patient.coi} has a batch still being made.",
                       code="batch_in_progress") from error
    _runs(batch, version, actor)
    feasibility.on_opening(batch)
    return batch


def open_on_receipt(*, actor: User, patient: Patient) -> Batch | None:
    """The apheresis material arrived: open the patient's first batch, if there is none and
    the product has an effective master version. Receiving the cells never fails for this:
    without an effective version the batch is opened by hand later (and the log says why)."""
    if patient.batches.exists():
        return None
    try:
        with transaction.atomic():
            return open_batch(actor=actor, patient=patient, automatic=True)
    except DomainError as error:
        logger.warning("No batch opened on receipt for %s: %s", patient.coi, error.message)
        return None


def _locked(batch: Batch) -> Batch:
    return Batch.objects.select_for_update().get(pk=batch.pk)


# What a person decides about a batch by hand, with a reason: ending it. Executed follows the
# last step; review and release are signed decisions of their own.
BY_HAND = (BatchStatus.CANCELLED, BatchStatus.REJECTED)


@transaction.atomic
def move_batch(*, actor: User, batch: Batch, status: str, reason: str) -> Batch:
    """Every status change of a batch by hand, through the one transition table."""
    require_permission(actor, CHANGE, "change batch records")
    reason = require_reason(reason)
    batch = _locked(batch)
    if not actor.has_site(batch.site):
        raise NotFound("No such batch.")
    check_batch_transition(batch.status, status)
    if status not in BY_HAND:
        raise BatchRefused(
            f"A batch becomes “{BatchStatus(status).label.lower()}” through its steps "
            "(performed and verified at the suite) or through its signed review and release, "
            "never by hand.", code="not_by_hand")
    return _move(batch, status, actor=actor, reason=reason)


def _move(batch: Batch, status: str, *, actor: User, reason: str) -> Batch:
    check_batch_transition(batch.status, status)
    batch.status = status
    batch.status_reason = reason
    now = timezone.now()
    if status == BatchStatus.IN_PROGRESS and batch.started_at is None:
        batch.started_at = now
    if status == BatchStatus.IN_PROGRESS:
        batch.executed_at = None  # back from executed (a correction): executed again later
    if status == BatchStatus.EXECUTED:
        batch.executed_at = now
    audit.stamp(batch, user=actor, reason=reason)
    batch.save()
    return batch


def cancel_batch(*, actor: User, batch: Batch, reason: str) -> Batch:
    """Cancel a planned or running batch (with a reason); the record stays, cancelled."""
    return move_batch(actor=actor, batch=batch, status=BatchStatus.CANCELLED, reason=reason)


def advance_batch(*, actor: User, batch: Batch, status: str, reason: str) -> Batch:
    """A move the execution services make on their own (first step, last step): the batch
    is already locked by the caller's transaction."""
    return _move(batch, status, actor=actor, reason=reason)
