"""The stock ledger's writes: consumption at the point of use, its reversal, adjustments.

Each locks the lot (select_for_update), writes one append-only `StockEntry` and saves the
lot's new on-hand quantity in the same transaction; the database's check constraint on the
lot refuses a negative balance even if a check here were bypassed.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from mes import audit
from mes.models import User
from reagents.models import LotStatus, Material, ReagentLot, StockEntry
from reagents.services.common import (
    QUANTITY_LIMIT,
    ReagentRefused,
    change_status,
    positive_quantity,
    require,
    require_reason,
    signed_quantity,
    too_big_or_precise,
)

# Terminals and servers disagree by seconds; a use "in the future" beyond this is a mistake.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)

_UNUSABLE = {
    LotStatus.QUARANTINE: ("lot_quarantined", "is in quarantine and not released by QA"),
    LotStatus.REJECTED: ("lot_rejected", "was rejected by QA"),
    LotStatus.ON_HOLD: ("lot_on_hold", "is on hold by QA"),
    LotStatus.EXPIRED: ("lot_expired", "has expired"),
    LotStatus.DEPLETED: ("lot_depleted", "is depleted: nothing is left"),
}


@transaction.atomic
def consume_lot(*, user: User, lot: ReagentLot, quantity, material: Material,
                purpose: models.Model | None, batch_number: str, patient_coi: str,
                at: dt.datetime | None = None) -> StockEntry:
    """Consume ``quantity`` of ``lot`` for a patient's batch step. The lot must be released,
    not past its expiry date at the moment of use (site's time zone), of the material the step
    requires, and hold enough; the decrement is atomic and never goes below zero."""
    now = timezone.now()
    at = at or now
    if at > now + CLOCK_TOLERANCE:
        raise ReagentRefused("The moment of use is in the future; record a use when it "
                             "happens.", code="invalid_time", fields={"at": ["In the future."]})
    quantity = positive_quantity(quantity)
    batch_number = (batch_number or "").strip()
    patient_coi = (patient_coi or "").strip()
    if not batch_number:
        raise ReagentRefused("A consumption must name the batch it is for.",
                             code="batch_required", fields={"batch_number": ["Required."]})
    lot = (ReagentLot.objects.select_for_update(of=("self",))
           .select_related("site", "material").get(pk=lot.pk))
    require(user, "reagents.consume_lot", "consume reagent lots", lot.site)
    name = f"Lot {lot.supplier_lot} ({lot.material.code})"
    if at < lot.received_at:
        raise ReagentRefused(f"{lot} was received at {lot.received_at:%Y-%m-%d %H:%M} UTC; it "
                             "cannot have been used before.", code="invalid_time",
                             fields={"at": ["Before the lot was received."]})
    if lot.material_id != material.pk:
        raise ReagentRefused(f"{name} is not {material.code} {material.name}, the material "
                             "this step requires. Scan a lot of the right material.",
                             code="wrong_material")
    if lot.status in _UNUSABLE:
        code, why = _UNUSABLE[lot.status]
        raise ReagentRefused(f"{name} {why}; it cannot be used.", code=code)
    if lot.is_past_expiry(at):
        raise ReagentRefused(f"{name} expired on {lot.expiry_date:%Y-%m-%d} "
                             f"({lot.site.time_zone}); it cannot be used.", code="lot_expired")
    if quantity > lot.quantity_on_hand:
        raise ReagentRefused(f"{name} has {lot.quantity_on_hand} {lot.material.unit} on hand; "
                             f"{quantity} {lot.material.unit} cannot be taken from it.",
                             code="insufficient_quantity",
                             fields={"quantity": ["More than is on hand."]})
    reason = f"Consumed for batch {batch_number}"
    entry = StockEntry(site_id=lot.site_id, lot=lot, kind=StockEntry.Kind.CONSUMPTION,
                       quantity=-quantity, occurred_at=at, entered_by=user, reason=reason,
                       batch_number=batch_number, patient_coi=patient_coi)
    if purpose is not None:
        entry.purpose_type = ContentType.objects.get_for_model(purpose)
        entry.purpose_id = purpose.pk
        entry.purpose_label = str(purpose)[:200]
    _move(lot, entry, user=user, reason=reason)
    return entry


@transaction.atomic
def reverse_consumption(*, user: User, entry: StockEntry, reason: str) -> StockEntry:
    """Put back a mistaken consumption with a reason. The original entry stays; the reversal
    names it, carries its batch and patient, and a consumption is reversed once only."""
    reason = require_reason(reason)
    lot = ReagentLot.objects.select_for_update().get(pk=entry.lot_id)
    require(user, "reagents.reverse_consumption", "reverse consumptions", lot.site)
    # The lot's lock serialises reversals; ledger rows are never locked (the application's
    # database role may not UPDATE them, and FOR UPDATE would need that privilege).
    original = StockEntry.objects.get(pk=entry.pk, lot=lot)
    if original.kind != StockEntry.Kind.CONSUMPTION:
        raise ReagentRefused("Only a consumption can be reversed.", code="not_a_consumption")
    if StockEntry.objects.filter(reverses=original).exists():
        raise ReagentRefused("This consumption was already reversed.", code="already_reversed")
    reversal = StockEntry(site_id=lot.site_id, lot=lot, kind=StockEntry.Kind.REVERSAL,
                          quantity=-original.quantity, entered_by=user, reason=reason,
                          reverses=original, batch_number=original.batch_number,
                          patient_coi=original.patient_coi,
                          purpose_type_id=original.purpose_type_id,
                          purpose_id=original.purpose_id,
                          purpose_label=original.purpose_label)
    _move(lot, reversal, user=user, reason=f"Reversal of consumption #{original.pk}: {reason}")
    return reversal


@transaction.atomic
def adjust_stock(*, user: User, lot: ReagentLot, quantity, reason: str) -> StockEntry:
    """Correct a lot's stock by a signed quantity (e.g. a count, a broken vial), with a
    reason; it can never bring the lot below zero."""
    reason = require_reason(reason)
    delta = signed_quantity(quantity)
    if delta == 0:
        raise ReagentRefused("An adjustment of zero changes nothing.", code="invalid_quantity",
                             fields={"quantity": ["Must not be zero."]})
    lot = ReagentLot.objects.select_for_update().get(pk=lot.pk)
    require(user, "reagents.adjust_stock", "adjust stock", lot.site)
    if lot.quantity_on_hand + delta < 0:
        raise ReagentRefused(f"Lot {lot.supplier_lot} has {lot.quantity_on_hand} on hand; "
                             f"an adjustment of {delta} would make it negative.",
                             code="insufficient_quantity",
                             fields={"quantity": ["More than is on hand."]})
    if lot.quantity_on_hand + delta >= QUANTITY_LIMIT:
        raise too_big_or_precise()
    entry = StockEntry(site_id=lot.site_id, lot=lot, kind=StockEntry.Kind.ADJUSTMENT,
                       quantity=delta, entered_by=user, reason=reason)
    _move(lot, entry, user=user, reason=f"Stock adjustment: {reason}")
    return entry


def _move(lot: ReagentLot, entry: StockEntry, *, user: User, reason: str) -> None:
    """Apply ``entry`` to the locked ``lot``: new balance, depletion or restoration."""
    balance = lot.quantity_on_hand + entry.quantity
    if balance == 0 and lot.status == LotStatus.RELEASED:
        change_status(lot, LotStatus.DEPLETED, user=user, reason="Nothing left on hand")
    elif balance > 0 and lot.status == LotStatus.DEPLETED:
        change_status(lot, LotStatus.RELEASED, user=user,
                      reason="Stock restored; the lot was released before it was depleted")
    lot.quantity_on_hand = balance
    audit.stamp(lot, user=user, reason=reason)
    lot.save()
    entry.balance_after = balance
    audit.stamp(entry, user=user, reason=reason)
    entry.save()

