from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from biip.checksums import gs1_standard_check_digit
from django.utils import timezone

from mes import audit
from reagents.models import (
    LotStatus,
    LotStatusChange,
    Material,
    MaterialGtin,
    ReagentLot,
    StockEntry,
    StorageCondition,
)
from tests.mes.factories import SiteFactory, UserFactory


def gtin14(body13: str) -> str:
    """A valid GTIN-14 from its first 13 digits."""
    return f"{body13}{gs1_standard_check_digit(body13)}"


VECTOR_GTIN = gtin14("0950600013435")   # 09506000134352
MEDIUM_GTIN = gtin14("0401234500001")


class MaterialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Material
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"MAT-{n:03d}")
    name = factory.Sequence(lambda n: f"Reagent {n}")
    unit = "mL"
    storage_condition = StorageCondition.FRIDGE
    is_critical = True
    requires_qa_release = True


def material(code: str = "LV-CD19", gtin: str = VECTOR_GTIN, **kwargs) -> Material:
    mat = MaterialFactory(code=code, **kwargs)
    MaterialGtin.objects.get_or_create(material=mat, gtin=gtin)
    return mat


def lot(*, site=None, material_=None, status=LotStatus.RELEASED, quantity="10",
        expiry: dt.date | None = None, supplier_lot: str | None = None, received_by=None,
        serial: str = "", received_at: dt.datetime | None = None) -> ReagentLot:
    """A lot set up directly in ``status`` with its receipt entry (services are tested
    elsewhere)."""
    site = site or SiteFactory()
    material_ = material_ or material()
    received_by = received_by or UserFactory()
    quantity = Decimal(quantity)
    expiry = expiry or (timezone.now().date() + dt.timedelta(days=180))
    supplier_lot = supplier_lot or f"L{ReagentLot.objects.count() + 1:05d}"
    with audit.acting_as(received_by):
        made = ReagentLot.objects.create(
            site=site, material=material_, gtin=material_.gtins.first().gtin,
            supplier_lot=supplier_lot, serial_number=serial, expiry_date=expiry,
            received_by=received_by, quantity_received=quantity, quantity_on_hand=quantity,
            received_at=received_at or timezone.now(), storage_location="Fridge 2, shelf B",
            status=status,
            coa_reference="COA-1" if status != LotStatus.QUARANTINE else "")
        StockEntry.objects.create(site=site, lot=made, kind=StockEntry.Kind.RECEIPT,
                                  quantity=quantity, balance_after=quantity,
                                  entered_by=received_by, reason="Received")
        LotStatusChange.objects.create(site=site, lot=made, from_status="", to_status=status,
                                       reason="Set up for the test", decided_by=received_by)
    return made
