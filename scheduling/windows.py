"""What feasibility reads, loaded in bulk: the suite over a span of days (holds, bookings,
roster with each person's certification per day, equipment), the reagent stock with what
bookings hold of it, the orders' collection days and the products' process plans. One
assessment, or every booking on a suite's page, costs a constant number of queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from custody.models import CustodyEvent, Order
from custody.models.custody import EventKind
from deviations.selectors import suite_on_hold
from reagents.models import LotStatus, ReagentLot
from scheduling.models import (
    ACTIVE_BOOKING,
    Booking,
    Equipment,
    ProcessPlan,
    ReagentReservation,
    RosterEntry,
    Suite,
    SuiteHold,
)
from training.services.gate import check_certified_each_day

_S = Order.Status
IN_MANUFACTURING_OR_LATER = frozenset(
    {_S.IN_MANUFACTURING, _S.RELEASED, _S.SHIPPED, _S.DELIVERED, _S.INFUSED}
)
RECEIVED_OR_LATER = IN_MANUFACTURING_OR_LATER | {_S.RECEIVED}
NOT_COLLECTED = frozenset({_S.ORDERED, _S.COLLECTION_SCHEDULED})


def collection_date(order: Order) -> dt.date:
    """The day the patient's material was collected: the local day (at the collecting site)
    of its first *collected* custody event, or the planned day while there is none."""
    return collection_dates([order])[order.pk]


def collection_dates(orders) -> dict[int, dt.date]:
    """`collection_date` of many orders, in at most one query (keyed by order id)."""
    found = {order.pk: order.planned_collection_date for order in orders}
    collected = {
        order.patient_id: order.pk for order in orders if order.status not in NOT_COLLECTED
    }
    if collected:
        events = (
            CustodyEvent.objects.filter(patient_id__in=collected, kind=EventKind.COLLECTED)
            .select_related("site")
            .order_by("-occurred_at", "-pk")
        )
        for event in events:  # the earliest comes last and wins
            found[collected[event.patient_id]] = timezone.localtime(
                event.occurred_at, event.site.zone
            ).date()
    return found


def plans_for(orders) -> dict[int, ProcessPlan]:
    """The active process plan of each order's product, in one load (keyed by product id)."""
    products = {order.patient.product_id for order in orders}
    plans = ProcessPlan.objects.filter(product_id__in=products, is_active=True).prefetch_related(
        "staffing__qualification", "equipment__equipment_type", "materials__material"
    )
    return {plan.product_id: plan for plan in plans}


@dataclass
class Window:
    """What assessing bookings of one suite over a span of days needs, loaded once, so that
    one assessment, or every booking on a suite's page, costs a constant number of queries."""

    suite: Suite
    holds: list[SuiteHold]
    held_by_deviation: bool
    bookings: list[Booking]
    rostered: dict[dt.date, dict[int, object]]
    certified: dict
    equipment: list[Equipment]
    stock: Stock
    collections: dict[int, dt.date]


def load_window(*, suite: Suite, start: dt.date, end: dt.date, plans, orders) -> Window:
    """Everything about ``suite`` from ``start`` to ``end`` that the ``plans`` of ``orders``
    need (the orders' collection days, the stock of the plans' materials)."""
    plans, orders = list(plans), list(orders)
    zone = suite.site.zone
    span_start = dt.datetime.combine(start, dt.time.min, tzinfo=zone)
    span_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    holds = list(
        SuiteHold.objects.filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=span_start),
            suite=suite,
            status=SuiteHold.Status.ACTIVE,
            starts_at__lt=span_end,
        )
    )
    bookings = list(
        Booking.objects.filter(suite=suite, status__in=ACTIVE_BOOKING)
        .overlapping(start, end)
        .select_related("order__patient")
    )
    rostered: dict[dt.date, dict[int, object]] = defaultdict(dict)
    for entry in RosterEntry.objects.filter(
        suite=suite, day__range=(start, end), status=RosterEntry.Status.ACTIVE
    ).select_related("person"):
        rostered[entry.day][entry.person_id] = entry.person
    everyone = {pk: person for on_day in rostered.values() for pk, person in on_day.items()}
    codes = sorted({need.qualification.code for plan in plans for need in plan.staffing.all()})
    certified = {}
    if everyone and codes:
        # Every rostered person, qualification and day judged from one load of the facts.
        certified = check_certified_each_day(
            people=everyone.values(),
            qualification_codes=codes,
            site=suite.site,
            days=sorted(rostered),
            cleanroom_grade=suite.grade,
        )
    materials = {need.material_id for plan in plans for need in plan.materials.all()}
    return Window(
        suite=suite,
        holds=holds,
        held_by_deviation=suite_on_hold(suite),
        bookings=bookings,
        rostered=rostered,
        certified=certified,
        equipment=list(
            Equipment.objects.filter(suite=suite, status=Equipment.Status.IN_SERVICE).order_by(
                "identifier"
            )
        ),
        stock=load_stock(suite.site, materials, start) if materials else Stock([], {}),
        collections=collection_dates(orders),
    )


@dataclass
class Stock:
    """Released lots with stock, and what each active booking holds of each lot."""

    lots: list[ReagentLot]
    reserved: dict[tuple[int, int], Decimal]  # (lot id, booking id) -> quantity

    def free(self, material_ids, through: dt.date, booking: Booking | None = None):
        """For each material, its lots unexpired through ``through`` with their stock not
        reserved by other bookings (first to expire first)."""
        own = booking.pk if booking is not None else None
        held: dict[int, Decimal] = defaultdict(Decimal)
        for (lot_id, booking_id), quantity in self.reserved.items():
            if booking_id != own:
                held[lot_id] += quantity
        free: dict[int, list[tuple[ReagentLot, Decimal]]] = defaultdict(list)
        wanted = set(material_ids)
        for lot in self.lots:
            if lot.material_id not in wanted or lot.expiry_date < through:
                continue
            left = lot.quantity_on_hand - held.get(lot.pk, Decimal(0))
            if left > 0:
                free[lot.material_id].append((lot, left))
        return free


def load_stock(site, material_ids, through: dt.date) -> Stock:
    """The released lots at ``site`` of the materials unexpired through ``through``, and the
    active reservations on them. A reservation holds nothing once its booking's order is in
    manufacturing (the stock is issued from then on) or its booking's days are over."""
    lots = list(
        ReagentLot.objects.filter(
            site=site,
            material_id__in=material_ids,
            status=LotStatus.RELEASED,
            expiry_date__gte=through,
            quantity_on_hand__gt=0,
        ).order_by("expiry_date", "pk")
    )
    today = timezone.localtime(timezone.now(), site.zone).date()
    reservations = (
        ReagentReservation.objects.filter(
            lot__in=lots,
            status=ReagentReservation.Status.ACTIVE,
            booking__status__in=ACTIVE_BOOKING,
            booking__end_date__gte=today,
        )
        .exclude(booking__order__status__in=IN_MANUFACTURING_OR_LATER)
        .values_list("lot_id", "booking_id")
        .annotate(total=Sum("quantity"))
    )
    return Stock(lots, {(lot, booking): total for lot, booking, total in reservations})


def free_stock(
    site, material_ids, through: dt.date, booking: Booking | None = None
) -> dict[int, list[tuple[ReagentLot, Decimal]]]:
    """For each material, the released lots at ``site`` unexpired through ``through`` with
    their stock not reserved by other active bookings (first to expire first); see
    :func:`load_stock` for which reservations hold stock."""
    return load_stock(site, material_ids, through).free(material_ids, through, booking)
