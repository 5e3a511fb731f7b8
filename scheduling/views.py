"""Scheduling pages: the suites of one's sites, and each suite's status, equipment, logbook
and coming bookings with their problems and predicted release dates (read-only for now; the
writes are in the API and, later, on the planner's board)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from scheduling import feasibility, selectors
from scheduling.models import ACTIVE_BOOKING, Equipment, Suite
from scheduling.views_terminals import terminals_context

VIEW_SUITES = "scheduling.view_suite"


@login_required
@permission_required(VIEW_SUITES, raise_exception=True)
def suite_list(request):
    suites = list(selectors.suites_for(request.user).order_by("site__code", "code"))
    unavailable = selectors.unavailable_suite_ids(suites)
    rows = [(suite, suite.pk not in unavailable) for suite in suites]
    return render(request, "scheduling/suite_list.html", {"rows": rows})


@login_required
@permission_required(VIEW_SUITES, raise_exception=True)
def suite_detail(request, pk: int):
    suite = selectors.suites_for(request.user).filter(pk=pk).first()
    if suite is None:
        raise Http404("No such suite.")
    today = timezone.localtime(timezone.now(), suite.site.zone).date()
    equipment = list(suite.equipment.select_related("equipment_type").order_by("identifier"))
    upcoming = list(
        selectors.bookings_for(request.user)
        .filter(suite=suite, status__in=ACTIVE_BOOKING, end_date__gte=today)
        .order_by("start_date", "lane")
    )
    bookings = [(booking, None) for booking in upcoming]
    plans = feasibility.plans_for([booking.order for booking in upcoming])
    assessed = [b for b in upcoming if b.order.patient.product_id in plans]
    if assessed:
        # One load of the suite over all the bookings' days: the page's queries do not grow
        # with its bookings.
        window = feasibility.load_window(
            suite=suite,
            start=min(b.start_date for b in assessed),
            end=max(
                max(b.end_date, plans[b.order.patient.product_id].end_for(b.start_date))
                for b in assessed
            ),
            plans=plans.values(),
            orders=[b.order for b in assessed],
        )
        bookings = [
            (
                booking,
                feasibility.assess(
                    order=booking.order,
                    suite=suite,
                    start=booking.start_date,
                    plan=plans[booking.order.patient.product_id],
                    booking=booking,
                    window=window,
                )
                if booking in assessed
                else None,
            )
            for booking in upcoming
        ]
    logbook = Paginator(selectors.logbook_for(request.user).filter(suite=suite), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "scheduling/suite_detail.html",
        {
            "suite": suite,
            "available": selectors.suite_is_available(suite),
            "equipment": [
                (piece, state, Equipment.Cleaning(state).label)
                for piece, state in ((p, p.cleaning_status_at()) for p in equipment)
            ],
            "holds": suite.holds.filter(status="active").order_by("starts_at"),
            "bookings": bookings,
            "logbook": logbook,
            "statuses": Suite.Status,
            **terminals_context(request, suite),
        },
    )
