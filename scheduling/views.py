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
    bookings = []
    for booking in (
        selectors.bookings_for(request.user)
        .filter(suite=suite, status__in=ACTIVE_BOOKING, end_date__gte=today)
        .order_by("start_date", "lane")
    ):
        plan = feasibility.plan_for(booking.order)
        found = None
        if plan is not None:
            found = feasibility.assess(
                order=booking.order,
                suite=suite,
                start=booking.start_date,
                plan=plan,
                booking=booking,
            )
        bookings.append((booking, found))
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
        },
    )
