"""Receiving a lot by scanning its GS1 label: the decoded preview, then the receipt."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from mes import audit
from mes.errors import DomainError
from reagents.gs1 import LabelData, LabelUnreadable, parse_label, read_label
from reagents.models import (
    LotStatus,
    LotStatusChange,
    Material,
    MaterialGtin,
    ReagentLot,
    StockEntry,
)
from reagents.services.common import change_status, positive_quantity, require


@dataclass(frozen=True)
class ReadingOption:
    """One reading of a scan, with its material, or the refusal that rules it out."""

    label: LabelData
    material: Material | None
    refusal: DomainError | None


@dataclass(frozen=True)
class ReceiptPreview:
    """What a scan decodes to, before anything is stored or the quantity is asked: one
    reading, or several when the scan had no separators and the receiver must choose."""

    label: LabelData
    options: tuple[ReadingOption, ...]

    @property
    def needs_confirmation(self) -> bool:
        return self.label.ambiguous

    @property
    def choices(self) -> tuple[ReadingOption, ...]:
        return tuple(option for option in self.options if option.refusal is None)

    @property
    def material(self) -> Material:
        return self.choices[0].material


def preview_receipt(*, user, site, scan: str) -> ReceiptPreview:
    """Decode a label scan for the receiver to check: the material from its GTIN, the lot,
    expiry and serial. Nothing is written. An unreadable label, an unknown GTIN, an inactive
    material, a lot past its expiry or one already received is refused here, before the
    quantity is asked. A scan without separators that reads more than one way is previewed
    with each reading (and why any is ruled out) until the receiver confirms one."""
    require(user, "reagents.receive_lot", "receive reagent lots", site)
    label = parse_label(scan)
    options = []
    for option in label.readings:
        try:
            options.append(ReadingOption(option, _check_label(site, option), None))
        except DomainError as refusal:
            options.append(ReadingOption(option, None, refusal))
    preview = ReceiptPreview(label=label, options=tuple(options))
    if not preview.choices:
        raise options[0].refusal
    return preview


def receive_lot(*, user, site, scan: str, quantity, storage_location: str,
                expiry_date: dt.date | None = None, reading: str = "") -> ReagentLot:
    """Receive a lot from its label scan into quarantine (or straight to released when the
    material needs no QA release), with its receipt in the stock ledger. A label that cannot
    be read, an unknown GTIN, a missing lot number, a lot past its expiry or a duplicate
    receipt writes nothing; a scan without separators that reads more than one way needs the
    receiver's confirmed ``reading``, which the receipt records."""
    require(user, "reagents.receive_lot", "receive reagent lots", site)
    label = read_label(scan, reading)
    quantity = positive_quantity(quantity)
    storage_location = (storage_location or "").strip()
    if not storage_location:
        raise DomainError("Say where the lot is stored.", code="invalid",
                          fields={"storage_location": ["Required."]})
    material = _check_label(site, label)
    expiry = label.expiry_date or expiry_date
    if expiry is None:
        raise DomainError("The label has no expiry date (17); enter it from the label.",
                          code="expiry_required", fields={"expiry_date": ["Required."]})
    if label.expiry_date and expiry_date and expiry_date != label.expiry_date:
        raise DomainError(f"The label says the lot expires on {label.expiry_date:%Y-%m-%d}, "
                          f"not {expiry_date:%Y-%m-%d}.", code="expiry_mismatch",
                          fields={"expiry_date": ["Does not match the label."]})
    _refuse_expired(site, label.lot, expiry)
    try:
        with transaction.atomic():
            return _record_receipt(user=user, site=site, material=material, label=label,
                                   quantity=quantity, storage_location=storage_location,
                                   expiry=expiry, scan=scan)
    except IntegrityError as exc:
        raise DomainError(f"Lot {label.lot} of {material.code} was just received by someone "
                          "else.", code="already_received") from exc


def _material(label: LabelData) -> Material:
    gtin = MaterialGtin.objects.select_related("material").filter(gtin=label.gtin).first()
    if gtin is None:
        raise LabelUnreadable(f"No material has the GTIN {label.gtin}; QA must add it to the "
                              "material master before the lot can be received.",
                              code="unknown_gtin")
    return gtin.material


def _check_label(site, label: LabelData) -> Material:
    """The label's material, if a lot with this label may be received at ``site``."""
    material = _material(label)
    if not material.is_active:
        raise DomainError(f"{material} is no longer in use; the lot cannot be received.",
                          code="material_inactive")
    if label.expiry_date:
        _refuse_expired(site, label.lot, label.expiry_date)
    duplicate = ReagentLot.objects.filter(site=site, gtin=label.gtin, supplier_lot=label.lot,
                                          serial_number=label.serial_number).first()
    if duplicate is not None:
        raise DomainError(
            f"Lot {label.lot} of {material.code}"
            f"{' serial ' + label.serial_number if label.serial_number else ''} was already "
            f"received at {site.code} on {duplicate.received_at:%Y-%m-%d}.",
            code="already_received")
    return material


def _refuse_expired(site, lot: str, expiry: dt.date) -> None:
    today = timezone.localtime(timezone.now(), site.zone).date()
    if expiry < today:
        raise DomainError(f"Lot {lot} expired on {expiry:%Y-%m-%d}; do not receive it.",
                          code="lot_expired")


def _record_receipt(*, user, site, material, label, quantity, storage_location, expiry, scan):
    reason = f"Received by scan of {label.hri}"
    if label.confirmed:
        # The scan alone could not say where the lot ended: the record keeps who chose.
        others = " or ".join(option.hri for option in label.alternatives)
        reason += (f"; the scan had no separators and the receiver confirmed this reading "
                   f"against the printed label (not {others})")
    lot = ReagentLot(site=site, material=material, gtin=label.gtin, supplier_lot=label.lot,
                     serial_number=label.serial_number, expiry_date=expiry, received_by=user,
                     quantity_received=quantity, quantity_on_hand=quantity,
                     storage_location=storage_location,
                     scan=scan.replace("\x1d", "<GS>")[:300])
    audit.stamp(lot, user=user, reason=reason)
    lot.save()
    entry = StockEntry(site=site, lot=lot, kind=StockEntry.Kind.RECEIPT, quantity=quantity,
                       balance_after=quantity, entered_by=user, reason=reason)
    audit.stamp(entry, user=user, reason=reason)
    entry.save()
    received = LotStatusChange(site_id=site.pk, lot=lot, from_status="",
                               to_status=LotStatus.QUARANTINE, reason="Received",
                               decided_by=user)
    audit.stamp(received, user=user, reason="Received")
    received.save()
    if not material.requires_qa_release:
        change_status(lot, LotStatus.RELEASED, user=user,
                      reason=f"{material.code} does not require QA release")
        audit.stamp(lot, user=user, reason="Released on receipt: no QA release required")
        lot.save()
    return lot
