"""Reads that several pages, the API and other apps share, with their joins.

Genealogy answers in a fixed number of queries however many times a lot was used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from mes.models import Site, User
from reagents.models import LotStatus, Material, ReagentLot, StockEntry

USES = (StockEntry.Kind.CONSUMPTION, StockEntry.Kind.REVERSAL)
MAX_EXPIRING_DAYS = 3650  # "expiring within" beyond ten years is a mistake, not a question


def site_dates(sites, now: dt.datetime | None = None) -> dict[int, dt.date]:
    """Each site's local calendar date now."""
    now = now or timezone.now()
    return {site.pk: timezone.localtime(now, site.zone).date() for site in sites}


def lots_for(user, *, status: str = "", material: str = "", expiring_days: int | None = None,
             query: str = ""):
    """The lot list: visible lots with their material and site, filtered."""
    lots = ReagentLot.objects.visible_to(user).select_related("material", "site")
    if status in LotStatus.values:
        lots = lots.filter(status=status)
    if material:
        lots = lots.filter(material__code=material)
    if query:
        lots = lots.filter(Q(supplier_lot__icontains=query) | Q(gtin=query))
    if expiring_days is not None:
        limit = Q(pk__in=[])
        for site_id, today in site_dates(user.sites()).items():
            limit |= Q(site_id=site_id, expiry_date__gte=today,
                       expiry_date__lte=today + dt.timedelta(days=expiring_days))
        lots = lots.filter(limit, status=LotStatus.RELEASED)
    return lots.order_by("expiry_date", "pk")


def lot_detail(user, pk: int) -> ReagentLot:
    return (ReagentLot.objects.visible_to(user).select_related("material", "site",
                                                               "received_by").get(pk=pk))


def status_history(lot: ReagentLot):
    """The lot's status decisions with their signatures (two queries)."""
    return (lot.status_changes.select_related("decided_by", "lot")
            .prefetch_related("signatures").order_by("decided_at", "pk"))


def ledger(lot: ReagentLot):
    """The lot's stock entries in the order they happened, for paging: the order is that of
    the ``reagents_ledger_order`` index, so a page of a long ledger is read, not sorted. The
    page shows the reversed entry's number only (``reverses_id``): no join for it."""
    return (lot.entries.select_related("entered_by", "reversed_by")
            .order_by("occurred_at", "pk"))


@dataclass(frozen=True)
class Use:
    """One batch (and patient) that used a lot, net of reversals."""

    batch_number: str
    patient_coi: str
    quantity: Decimal
    first_used: dt.datetime
    last_used: dt.datetime
    consumptions: int


def recall_rows(lot: ReagentLot):
    """Uses of ``lot`` grouped by batch and patient, net of reversals, oldest first."""
    return (StockEntry.objects.filter(lot=lot, kind__in=USES)
            .values("batch_number", "patient_coi")
            .annotate(net=Sum("quantity"), first=Min("occurred_at"), last=Max("occurred_at"),
                      consumptions=Count("pk", filter=Q(kind=StockEntry.Kind.CONSUMPTION)))
            .order_by("first", "batch_number", "patient_coi"))


def as_uses(rows) -> list[Use]:
    return [Use(batch_number=r["batch_number"], patient_coi=r["patient_coi"],
                quantity=-r["net"], first_used=r["first"], last_used=r["last"],
                consumptions=r["consumptions"]) for r in rows]


def recall_list(lot: ReagentLot) -> list[Use]:
    """Every batch and patient that used ``lot``, with net quantities and dates (one query)."""
    return as_uses(recall_rows(lot))


@dataclass(frozen=True)
class LotUse:
    lot: ReagentLot
    quantity: Decimal
    first_used: dt.datetime
    patient_coi: str


def lots_used_by_batch(user, *, batch_number: str = "", patient_coi: str = "") -> list[LotUse]:
    """Every lot a batch (or a patient) used, net of reversals (two queries)."""
    if not (batch_number or patient_coi):
        return []
    entries = StockEntry.objects.visible_to(user).filter(kind__in=USES)
    if batch_number:
        entries = entries.filter(batch_number=batch_number)
    if patient_coi:
        entries = entries.filter(patient_coi=patient_coi)
    rows = list(entries.values("lot_id", "patient_coi")
                .annotate(net=Sum("quantity"), first=Min("occurred_at")).order_by("first"))
    lots = ReagentLot.objects.select_related("material", "site", "received_by").in_bulk(
        [r["lot_id"] for r in rows])
    return [LotUse(lot=lots[r["lot_id"]], quantity=-r["net"], first_used=r["first"],
                   patient_coi=r["patient_coi"]) for r in rows]


@dataclass(frozen=True)
class MaterialStock:
    material: Material
    usable: Decimal
    usable_lots: int
    quarantine: Decimal
    on_hold: Decimal


def inventory(user) -> list[MaterialStock]:
    """Per material: released usable quantity (released, in date at its site, stock left)
    and what waits in quarantine or on hold, over the user's sites (two queries)."""
    sites = list(user.sites())
    usable = ReagentLot.objects.visible_to(user).usable_on(site_dates(sites))
    usable_rows = {r["material_id"]: r for r in usable.values("material_id").annotate(
        qty=Sum("quantity_on_hand"), lots=Count("pk")).order_by()}
    held = (ReagentLot.objects.visible_to(user)
            .filter(status__in=[LotStatus.QUARANTINE, LotStatus.ON_HOLD])
            .values("material_id", "status").annotate(qty=Sum("quantity_on_hand")).order_by())
    waiting: dict[tuple[int, str], Decimal] = {(r["material_id"], r["status"]): r["qty"]
                                               for r in held}
    zero = Decimal("0")
    return [MaterialStock(material=m,
                          usable=usable_rows.get(m.pk, {}).get("qty") or zero,
                          usable_lots=usable_rows.get(m.pk, {}).get("lots") or 0,
                          quarantine=waiting.get((m.pk, LotStatus.QUARANTINE), zero),
                          on_hold=waiting.get((m.pk, LotStatus.ON_HOLD), zero))
            for m in Material.objects.filter(is_active=True).order_by("code")]


def materials():
    return Material.objects.prefetch_related("gtins").order_by("code")


def released_lots_expiring_within(*, site: Site, days: int, now: dt.datetime | None = None):
    today = timezone.localtime(now or timezone.now(), site.zone).date()
    return (ReagentLot.objects.filter(site=site, status=LotStatus.RELEASED,
                                      expiry_date__gte=today,
                                      expiry_date__lte=today + dt.timedelta(days=days))
            .select_related("material").order_by("expiry_date", "pk"))


def qa_reviewers(site: Site) -> list[User]:
    """Active people who may release lots at ``site`` (by role or direct permission)."""
    permission = Permission.objects.get(codename="release_lot", content_type__app_label="reagents")
    return list(User.objects.filter(
        Q(groups__permissions=permission) | Q(user_permissions=permission),
        is_active=True,
        siteuserobjectpermission__content_object=site,
        siteuserobjectpermission__permission__codename="view_site",
    ).distinct().order_by("full_name"))


def stock_ledger_mismatches(tally):
    """The integrity check's question to reagents: does every lot's quantity on hand equal the
    sum of its ledger? One aggregate query, streamed."""
    from django.db.models import DecimalField, Value
    from django.db.models.functions import Coalesce

    from mes.services.verification import Finding

    lots = (ReagentLot.objects.order_by("pk")
            .annotate(ledger=Coalesce(Sum("entries__quantity"),
                                      Value(Decimal(0)), output_field=DecimalField()))
            .values_list("pk", "supplier_lot", "quantity_on_hand", "ledger"))
    for pk, supplier_lot, on_hand, ledger in lots.iterator(chunk_size=2000):
        tally.rows += 1
        if on_hand != ledger:
            yield Finding("stock_differs_from_ledger", f"Lot {supplier_lot} (#{pk}) has "
                          f"{on_hand} on hand but its ledger adds up to {ledger}.",
                          table=ReagentLot._meta.db_table, pk=pk)
