"""Reads that the API, pages and other apps (batch execution) share, with their joins."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from custody.models import Order
from deviations.selectors import held_subject_ids, suite_on_hold
from scheduling import feasibility
from scheduling.models import (
    Booking,
    BookingStatus,
    Equipment,
    LogbookEntry,
    Suite,
    SuiteHold,
)


def suite_is_available(suite: Suite, at: dt.datetime | None = None) -> bool:
    """May work happen in ``suite`` at ``at`` (now)? Not when its status is anything but
    available, an active hold or maintenance window covers the moment, or an open critical
    deviation holds it. Batch execution asks this before each step."""
    at = at or timezone.now()
    if suite.status != Suite.Status.AVAILABLE:
        return False
    held = SuiteHold.objects.filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=at),
        suite=suite,
        status=SuiteHold.Status.ACTIVE,
        starts_at__lte=at,
    ).exists()
    return not held and not suite_on_hold(suite)


def unavailable_suite_ids(suites, at: dt.datetime | None = None) -> set[int]:
    """`suite_is_available` for many suites at once (lists, the board), in two queries."""
    at = at or timezone.now()
    suites = list(suites)
    ids = {suite.pk for suite in suites}
    down = {suite.pk for suite in suites if suite.status != Suite.Status.AVAILABLE}
    held = set(
        SuiteHold.objects.filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at),
            suite_id__in=ids,
            status=SuiteHold.Status.ACTIVE,
            starts_at__lte=at,
        ).values_list("suite_id", flat=True)
    )
    return down | held | (held_subject_ids(Suite) & ids)


def suites_for(user):
    return Suite.objects.visible_to(user).select_related("site")


def equipment_for(user):
    return Equipment.objects.visible_to(user).select_related("site", "suite", "equipment_type")


def logbook_for(user):
    return (
        LogbookEntry.objects.visible_to(user)
        .select_related("site", "suite", "equipment", "recorded_by")
        .prefetch_related("signatures")
        .order_by("-occurred_at", "-pk")
    )


def holds_for(user):
    return SuiteHold.objects.visible_to(user).select_related("suite", "placed_by")


def bookings_for(user):
    return (
        Booking.objects.visible_to(user)
        .select_related("site", "suite", "order__patient__product", "booked_by", "confirmed_by")
        .prefetch_related("reservations")
    )


@dataclass(frozen=True)
class Prediction:
    order: Order
    basis: str  # "booking": from its latest booking not cancelled; "plan": earliest start
    start_date: dt.date
    end_date: dt.date
    predicted_release: dt.date
    target_release: dt.date
    booking: Booking | None

    @property
    def on_target(self) -> bool:
        return self.predicted_release <= self.target_release


def predictions_for(orders) -> dict[int, Prediction]:
    """`prediction_for` of many orders (a page of the API's list), in four queries whatever
    their number; an order without a prediction is left out."""
    from scheduling import windows

    orders = [order for order in orders if order.status != Order.Status.CANCELLED]
    if not orders:
        return {}
    plans = windows.plans_for(orders)
    collections = windows.collection_dates(orders)
    latest = {}
    for booking in (Booking.objects.filter(order__in=orders)
                    .exclude(status=BookingStatus.CANCELLED).select_related("suite")
                    .order_by("order_id", "-pk")):
        latest.setdefault(booking.order_id, booking)
    found = {}
    for order in orders:
        plan = plans.get(order.patient.product_id)
        if plan is None:
            continue
        collection, booking = collections[order.pk], latest.get(order.pk)
        if booking is not None:
            start, end, basis = booking.start_date, booking.end_date, "booking"
        else:
            start = plan.earliest_start(collection)
            end, basis = plan.end_for(start), "plan"
        predicted, target = feasibility.release_dates(plan, collection, end)
        found[order.pk] = Prediction(order=order, basis=basis, start_date=start, end_date=end,
                                     predicted_release=predicted, target_release=target,
                                     booking=booking)
    return found


def prediction_for(order: Order) -> Prediction | None:
    """When ``order``'s product will be released: its latest booking's last day (active or
    completed) plus the product's QC release days; without one, from the earliest possible
    start. The target counts from the day the material was collected (the custody event's).
    None: the order is cancelled, or the product has no process plan."""
    return predictions_for([order]).get(order.pk)


TERMINAL_COOKIE = "mes_terminal"
TERMINAL_HEADER = "X-MES-Terminal"


def terminal_for_request(request):
    """The registered terminal a request comes from: the browser's cookie or an
    integration's header (never the IP address alone). Read once per request."""
    from scheduling.services.terminals import recognise

    if not hasattr(request, "_mes_terminal"):
        secret = request.headers.get(TERMINAL_HEADER) or request.COOKIES.get(TERMINAL_COOKIE)
        request._mes_terminal = recognise(secret)
    return request._mes_terminal


def terminals_of(suite: Suite):
    """The suite's terminals, the active ones first (one query)."""
    from scheduling.models import Terminal

    return (Terminal.objects.filter(suite=suite).select_related("registered_by")
            .order_by("status", "name"))
