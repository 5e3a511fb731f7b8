"""Demo data: the reagents of a CAR-T process at the Leiden plant, lots in every status (one
released lot expiring this week) and consumptions for patient batches. Idempotent; every
write goes through the services, attributed to the demo person who would make it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from biip.checksums import gs1_standard_check_digit
from django.utils import timezone

from mes import audit
from mes.demo import DEMO_PASSWORD
from mes.models import Site, User
from reagents import services
from reagents.models import LotStatus, Material, ReagentLot, StockEntry, StorageCondition


def gtin(item: str) -> str:
    body = f"0950600{item}"  # GS1's own example company prefix: no real product's GTIN
    return body + str(gs1_standard_check_digit(body))


# code, name, unit, storage, critical, QA release required, GTIN item references
MATERIALS = [
    ("LV-CD19", "Lentiviral vector, anti-CD19 CAR (4-1BB)", "mL", StorageCondition.DEEP_FROZEN,
     True, True, ["000101", "000102"]),
    ("MED-TEX", "TexMACS GMP medium", "mL", StorageCondition.FRIDGE, True, True, ["000201"]),
    ("IL2-GMP", "Interleukin-2, GMP grade", "µg", StorageCondition.FROZEN, True, True,
     ["000301"]),
    ("CD4-MB", "CD4 MicroBeads, GMP", "vial", StorageCondition.FRIDGE, True, True, ["000401"]),
    ("CD8-MB", "CD8 MicroBeads, GMP", "vial", StorageCondition.FRIDGE, True, True, ["000501"]),
    ("TRANSACT", "T cell activation reagent (CD3/CD28 nanomatrix)", "mL",
     StorageCondition.FRIDGE, True, True, ["000601"]),
    ("HSA-20", "Human serum albumin 20 %", "mL", StorageCondition.FRIDGE, True, True,
     ["000701"]),
    ("CS10", "Cryopreservation medium with 10 % DMSO", "mL", StorageCondition.FRIDGE, True,
     True, ["000801"]),
    ("PBS-EDTA", "PBS/EDTA buffer", "mL", StorageCondition.AMBIENT, False, False, ["000901"]),
]

# material, supplier lot, serial, days to expiry, quantity, location, fate
LOTS = [
    ("LV-CD19", "VV24-0117", "", 300, "40", "-80 °C freezer F2, rack A", "released"),
    ("LV-CD19", "VV24-0131", "", 5, "6", "-80 °C freezer F2, rack A", "released"),  # this week
    ("LV-CD19", "VV24-0202", "", 340, "40", "-80 °C freezer F2, rack B", "quarantine"),
    ("MED-TEX", "TX2406A", "", 120, "6000", "Cold room CR1, shelf 3", "released"),
    ("MED-TEX", "TX2403C", "", 60, "3000", "Cold room CR1, shelf 4", "rejected"),
    ("IL2-GMP", "IL2-5521", "", 200, "500", "-20 °C freezer F1", "released"),
    ("IL2-GMP", "IL2-5530", "", 210, "500", "-20 °C freezer F1", "on_hold"),
    ("CD4-MB", "MB4-88012", "", 150, "6", "Cold room CR1, shelf 1", "depleted"),
    ("CD4-MB", "MB4-88107", "", 180, "10", "Cold room CR1, shelf 1", "released"),
    ("CD8-MB", "MB8-77231", "", 170, "10", "Cold room CR1, shelf 1", "released"),
    ("TRANSACT", "TA-3310", "", 90, "50", "Cold room CR1, shelf 2", "released"),
    ("HSA-20", "HSA-9912", "", 400, "1000", "Cold room CR1, shelf 5", "quarantine"),
    ("CS10", "CS-2024-77", "", 365, "800", "Cold room CR2", "released"),
    ("PBS-EDTA", "PB-55102", "", 500, "20000", "Store room S1", "released"),
]

EXPIRED_LOT = ("TRANSACT", "TA-2977", 40, "Cold room CR1, shelf 2")

# patient batch, COI (ISBT 128 DIN of the plant, facility G1234), what it used
BATCHES = [
    ("LEI-CART-26-0001", "G123426000101", [("LV-CD19", "VV24-0117", "2.5"),
                                           ("MED-TEX", "TX2406A", "450"),
                                           ("IL2-GMP", "IL2-5521", "20"),
                                           ("CD4-MB", "MB4-88012", "3"),
                                           ("TRANSACT", "TA-3310", "2")]),
    ("LEI-CART-26-0002", "G123426000102", [("LV-CD19", "VV24-0117", "2.5"),
                                           ("MED-TEX", "TX2406A", "450"),
                                           ("CD4-MB", "MB4-88012", "3"),
                                           ("CD8-MB", "MB8-77231", "1")]),
    ("LEI-CART-26-0003", "G123426000103", [("LV-CD19", "VV24-0131", "3"),
                                           ("MED-TEX", "TX2406A", "450"),
                                           ("CS10", "CS-2024-77", "60")]),
]


def load() -> None:
    site = Site.objects.filter(code="LEI").first()
    if site is None or ReagentLot.objects.filter(site=site).exists():
        return
    people = {u.username: u for u in User.objects.filter(
        username__in=["qa", "operator", "supervisor"])}
    qa, operator = people["qa"], people["operator"]
    today = timezone.localtime(timezone.now(), site.zone).date()
    materials = {}
    with audit.acting_as(qa):
        for code, name, unit, storage, critical, release, items in MATERIALS:
            materials[code] = Material.objects.filter(code=code).first() or \
                services.create_material(user=qa, code=code, name=name, unit=unit,
                                         storage_condition=storage, is_critical=critical,
                                         requires_qa_release=release,
                                         gtins=[gtin(i) for i in items])
    lots = {}
    for code, supplier_lot, serial, days, quantity, location, fate in LOTS:
        material = materials[code]
        scan = (f"]d201{material.gtins.first().gtin}17{today + dt.timedelta(days=days):%y%m%d}"
                f"10{supplier_lot}" + (f"\x1d21{serial}" if serial else ""))
        with audit.acting_as(operator):
            lot = services.receive_lot(user=operator, site=site, scan=scan, quantity=quantity,
                                       storage_location=location)
        lots[(code, supplier_lot)] = lot
        with audit.acting_as(qa):
            _decide(lot, fate, qa)
    for batch, coi, uses in BATCHES:
        with audit.acting_as(operator):
            for code, supplier_lot, quantity in uses:
                services.consume_lot(user=operator, lot=lots[(code, supplier_lot)],
                                     quantity=quantity, material=materials[code],
                                     purpose=None, batch_number=batch, patient_coi=coi)
    # A mistaken scan at the bench, put right by the supervisor with a reason.
    with audit.acting_as(operator):
        mistaken = services.consume_lot(
            user=operator, lot=lots[("CD8-MB", "MB8-77231")], quantity="1",
            material=materials["CD8-MB"], purpose=None, batch_number="LEI-CART-26-0003",
            patient_coi="G123426000103")
    with audit.acting_as(people["supervisor"]):
        services.reverse_consumption(user=people["supervisor"], entry=mistaken,
                                     reason="CD8 selection was not part of this batch's "
                                            "process; scanned by mistake")
    _expired_lot(site, materials, operator, today)


def _decide(lot: ReagentLot, fate: str, qa: User) -> None:
    if fate in ("released", "on_hold", "depleted") and lot.status == LotStatus.QUARANTINE:
        services.release_lot(user=qa, password=DEMO_PASSWORD, lot=lot,
                             coa_reference=f"COA-{lot.supplier_lot}",
                             reason="CoA reviewed against the material specification")
    if fate == "on_hold":
        services.hold_lot(user=qa, password=DEMO_PASSWORD, lot=lot,
                          reason="Supplier notice SN-2026-14: potency under investigation")
    if fate == "rejected":
        services.reject_lot(user=qa, password=DEMO_PASSWORD, lot=lot,
                            reason="CoA endotoxin result above the specification limit")


def _expired_lot(site, materials, operator, today) -> None:
    """A lot received months ago whose expiry has passed; the expiry job marks it."""
    code, supplier_lot, days_ago, location = EXPIRED_LOT
    material = materials[code]
    received = timezone.now() - dt.timedelta(days=days_ago + 120)
    with audit.acting_as(operator):
        lot = ReagentLot(site=site, material=material, gtin=material.gtins.first().gtin,
                         supplier_lot=supplier_lot, expiry_date=today - dt.timedelta(days=3),
                         received_at=received, received_by=operator,
                         quantity_received=Decimal("50"), quantity_on_hand=Decimal("12"),
                         storage_location=location, status=LotStatus.RELEASED,
                         coa_reference=f"COA-{supplier_lot}")
        audit.stamp(lot, user=operator, reason="Demo: received before this system's demo")
        lot.save()
        for kind, quantity, balance in ((StockEntry.Kind.RECEIPT, "50", "50"),
                                        (StockEntry.Kind.CONSUMPTION, "-38", "12")):
            entry = StockEntry(site=site, lot=lot, kind=kind, quantity=Decimal(quantity),
                               balance_after=Decimal(balance), occurred_at=received,
                               recorded_at=received, entered_by=operator,
                               reason="Demo history", batch_number=(
                                   "LEI-CART-25-0190" if kind == "consumption" else ""),
                               patient_coi=("G123425000190" if kind == "consumption" else ""))
            audit.stamp(entry, user=operator, reason="Demo history")
            entry.save()
    services.mark_expired_lots(user=audit.system_user())
