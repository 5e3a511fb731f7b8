"""Demo data: the Leiden plant's four suites with their equipment, two shifts, a roster of
three and a half weeks, the CAR-T process plan, and bookings for the custody demo's patients
that can still be booked (plus the one already in manufacturing). Some bookings have
problems a planner must see: an operator's gowning certification lapsing mid-window, an
operator not retrained on the new transduction SOP, a bioreactor due for calibration, too
few CD4 MicroBeads for the last booking. Everything goes through the services, attributed to
the demo person who would do it; loading again adds nothing."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from custody.models import Order, Product
from mes import audit
from mes.demo import DEMO_PASSWORD
from mes.models import Site, User
from scheduling import services
from scheduling.models import Booking, BookingStatus, Suite
from training.models import Certification

# code, name, grade, capacity (patient batches at once)
SUITES = [
    ("LEI-A", "Suite A (isolator line)", "B", 2),
    ("LEI-B", "Suite B (isolator line)", "B", 2),
    ("LEI-C", "Suite C", "B", 1),
    ("LEI-D", "Suite D", "B", 1),
]
TYPES = [
    ("CELL-SEP", "Magnetic cell separator"),
    ("BIOREACTOR", "Rocking-motion bioreactor"),
    ("BSC", "Biosafety cabinet class II"),
    ("CRF", "Controlled-rate freezer"),
]
DURATION = 8
# One need a day: a rostered person covers one need of a day, and the demo rosters one
# operator per suite and day.
STAFFING = (
    [(1, "CELL-SEL", 1), (2, "ACT-TRANS", 1)]
    + [(day, "EXPANSION", 1) for day in range(3, DURATION - 1)]
    + [(DURATION - 1, "HARVEST-FILL", 1), (DURATION, "CRYO", 1)]
)
MATERIALS = [
    ("LV-CD19", "2.5"),
    ("MED-TEX", "450"),
    ("IL2-GMP", "20"),
    ("CD4-MB", "2"),
    ("TRANSACT", "2"),
    ("CS10", "60"),
]
ROSTER_DAYS = range(-4, 22)


def load() -> None:
    lei = Site.objects.filter(code="LEI").first()
    product = Product.objects.filter(code="CART-19").first()
    people = {
        u.username: u
        for u in User.objects.filter(
            username__in=["admin", "planner", "supervisor", "operator", "operator2"]
        )
    }
    if lei is None or product is None or len(people) < 5:
        return
    if Suite.objects.filter(site=lei).exists():
        return
    admin, planner, supervisor = people["admin"], people["planner"], people["supervisor"]
    today = timezone.localtime(timezone.now(), lei.zone).date()

    def on(days: int) -> dt.date:
        return today + dt.timedelta(days=days)

    with audit.acting_as(admin):
        kinds = {
            code: services.create_equipment_type(actor=admin, code=code, name=name)
            for code, name in TYPES
        }
        suites = {}
        for code, name, grade, capacity in SUITES:
            suites[code] = suite = services.create_suite(
                actor=admin, site=lei, code=code, name=name, grade=grade, batch_capacity=capacity
            )
            for kind in kinds.values():
                # Suite B's bioreactor falls due for calibration in six days.
                due = on(6) if (code, kind.code) == ("LEI-B", "BIOREACTOR") else on(200)
                services.register_equipment(
                    actor=admin,
                    suite=suite,
                    equipment_type=kind,
                    identifier=f"{code}-{kind.code}",
                    calibration_due=due,
                    name=f"{kind.name} in {name}",
                )
        shifts = [
            services.create_shift(
                actor=admin, site=lei, name="Early", starts=dt.time(7), ends=dt.time(15, 30)
            ),
            services.create_shift(
                actor=admin, site=lei, name="Late", starts=dt.time(15), ends=dt.time(23, 30)
            ),
        ]
        services.define_process_plan(
            actor=admin,
            product=product,
            duration_days=DURATION,
            qc_release_days=14,
            target_vein_to_vein_days=35,
            receipt_days_after_collection=1,
            start_offset_days=1,
            staffing=STAFFING,
            equipment=[("CELL-SEP", 1), ("BIOREACTOR", 1), ("CRF", 1)],
            materials=MATERIALS,
        )
    with audit.acting_as(supervisor):
        for suite in suites.values():
            for piece in suite.equipment.all():
                services.record_cleaning(
                    actor=supervisor,
                    password=DEMO_PASSWORD,
                    equipment=piece,
                    clean_until=timezone.now() + dt.timedelta(days=30),
                    text="Cleaned and disinfected per SOP-CL-003; closed-system hold 30 days",
                )
        services.plan_maintenance(
            actor=supervisor,
            suite=suites["LEI-D"],
            starts_at=dt.datetime.combine(on(12), dt.time(7), tzinfo=lei.zone),
            ends_at=dt.datetime.combine(on(14), dt.time(7), tzinfo=lei.zone),
            reason="Annual HVAC filter change and requalification",
        )
    # One operator per suite and day: Olga early in A and late in B, Omar early in C and
    # late in D (he is not yet retrained on transduction, and his harvest is suspended).
    olga, omar = people["operator"], people["operator2"]
    places = [(olga, "LEI-A", 0), (olga, "LEI-B", 1), (omar, "LEI-C", 0), (omar, "LEI-D", 1)]
    with audit.acting_as(planner):
        for offset in ROSTER_DAYS:
            for person, code, shift in places:
                services.roster(
                    actor=planner,
                    person=person,
                    suite=suites[code],
                    day=on(offset),
                    shift=shifts[shift],
                )
    _bookings(suites, people, on)


def _bookings(suites, people, on) -> None:
    planner, supervisor = people["planner"], people["supervisor"]
    orders = {
        o.patient.initials: o
        for o in Order.objects.select_related("patient").filter(
            external_reference__startswith="DEMO-"
        )
    }
    if not orders:
        return
    _already_in_manufacturing(orders.get("GH"), suites["LEI-C"], planner, on)
    gowning = Certification.objects.filter(
        person=people["operator"], qualification__code="GOWN-B", status=Certification.Status.ACTIVE
    ).first()
    lapse_start = (gowning.valid_until - dt.timedelta(days=5)) if gowning else on(14)
    plan = [
        ("AV", "LEI-A", None),
        ("BK", "LEI-A", None),
        ("CD", "LEI-B", None),
        ("DE", "LEI-A", lapse_start),
        ("EF", "LEI-C", on(4)),
        ("FG", "LEI-D", None),
    ]
    booked = {}
    with audit.acting_as(planner):
        for initials, code, start in plan:
            order = orders.get(initials)
            if order is None or order.status == Order.Status.CANCELLED:
                continue
            booked[initials] = services.book(
                actor=planner,
                order=order,
                suite=suites[code],
                start=start,
                reason="Demo: slot agreed with UMCU",
            )
        for initials in ("AV", "BK"):
            if initials in booked:
                services.confirm(actor=planner, booking=booked[initials])
    if "CD" in booked:
        with audit.acting_as(supervisor):
            services.confirm(
                actor=supervisor,
                booking=booked["CD"],
                password=DEMO_PASSWORD,
                reason="Bioreactor calibration booked with the vendor for day 2 of the run; "
                "QA informed",
            )


def _already_in_manufacturing(order, suite, planner, on) -> None:
    """The patient in manufacturing was booked and confirmed before the run started; the
    booking is recorded as it was then (book() refuses orders already in manufacturing)."""
    if order is None:
        return
    reason = "Demo: booked and confirmed before the run started"
    with audit.acting_as(planner):
        booking = Booking(
            site=suite.site,
            order=order,
            suite=suite,
            start_date=on(-4),
            end_date=on(-4 + DURATION - 1),
            status=BookingStatus.CONFIRMED,
            booked_by=planner,
            confirmed_by=planner,
            confirmed_at=timezone.now() - dt.timedelta(days=6),
        )
        audit.stamp(booking, user=planner, reason=reason)
        booking.save()
