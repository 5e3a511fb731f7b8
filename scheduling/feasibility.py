"""Can this patient's manufacturing really happen in this suite on these days, and when will
the product be released? Every problem over the whole window, each with its own code and
reason, never only the first:

* ``suite_booked``: every lane of the suite is taken by another booking on some day;
* ``suite_on_hold`` / ``suite_in_maintenance`` / ``suite_retired``: the suite's status, or a
  hold or maintenance window overlapping the days;
* ``suite_holding_deviation``: an open critical deviation holds the suite (deviations);
* ``operators_not_certified``: on a process day, fewer rostered people than needed are
  certified (training gate, with gowning for the suite's grade) for a qualification; one
  person covers one need of a day, so the day's needs take that many distinct people;
* ``equipment_missing``: fewer pieces of a needed type in service in the suite than needed;
* ``equipment_calibration_due``: a piece's calibration falls due before the last day;
* ``equipment_not_clean``: a piece is not clean, or its clean hold ends before the last day;
* ``reagent_short``: released lots unexpired through the last day, less what other bookings
  reserved, do not cover a material (not asked once manufacturing has started; reservations
  of bookings whose order is in manufacturing, or whose days are over, hold nothing);
* ``starts_before_receipt``: manufacturing would start before the material's planned receipt
  (not asked once the material is received);
* ``release_after_target``: the predicted release date is after the product's target.

The predicted release date is the last manufacturing day plus the product's QC release days;
the vein-to-vein clock starts on the day the material was collected (the custody event's day
once there is one, the planned day before).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from custody.models import Order
from scheduling.models import Booking, Equipment, ProcessPlan, Suite, SuiteHold
from scheduling.windows import (
    IN_MANUFACTURING_OR_LATER,
    NOT_COLLECTED,
    RECEIVED_OR_LATER,
    Stock,
    Window,
    collection_date,
    collection_dates,
    free_stock,
    load_stock,
    load_window,
    plans_for,
)

__all__ = [
    "IN_MANUFACTURING_OR_LATER",
    "NOT_COLLECTED",
    "RECEIVED_OR_LATER",
    "Feasibility",
    "Problem",
    "Stock",
    "Window",
    "assess",
    "collection_date",
    "collection_dates",
    "days",
    "free_stock",
    "load_stock",
    "load_window",
    "plan_for",
    "plans_for",
    "release_dates",
]


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    date: dt.date | None = None

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "date": self.date.isoformat() if self.date else None,
        }


@dataclass
class Feasibility:
    suite: Suite
    start: dt.date
    end: dt.date
    collection: dt.date
    planned_receipt: dt.date
    predicted_release: dt.date
    target_release: dt.date
    problems: list[Problem] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def as_dict(self) -> dict:
        return {
            "suite": self.suite.code,
            "start_date": self.start,
            "end_date": self.end,
            "collection_date": self.collection,
            "planned_receipt": self.planned_receipt,
            "predicted_release": self.predicted_release,
            "target_release": self.target_release,
            "feasible": self.feasible,
            "problems": [p.as_dict() for p in self.problems],
        }


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def plan_for(order: Order) -> ProcessPlan | None:
    return (
        ProcessPlan.objects.filter(product_id=order.patient.product_id, is_active=True)
        .prefetch_related(
            "staffing__qualification", "equipment__equipment_type", "materials__material"
        )
        .first()
    )


def release_dates(plan: ProcessPlan, collection: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """(predicted release, target release) for a run ending on ``end``."""
    return (
        end + dt.timedelta(days=plan.qc_release_days),
        collection + dt.timedelta(days=plan.target_vein_to_vein_days),
    )


def assess(
    *,
    order: Order,
    suite: Suite,
    start: dt.date,
    plan: ProcessPlan,
    booking: Booking | None = None,
    window: Window | None = None,
) -> Feasibility:
    """Every problem of running ``order``'s process in ``suite`` from ``start``. ``booking``:
    the booking being assessed (its own days, lane and reservations do not count against it).
    ``window``: what is known of the suite over these days (a page assessing many bookings
    loads it once with :func:`load_window`)."""
    end = plan.end_for(start)
    if window is None:
        window = load_window(suite=suite, start=start, end=end, plans=[plan], orders=[order])
    collection = window.collections[order.pk]
    predicted, target = release_dates(plan, collection, end)
    result = Feasibility(
        suite=suite,
        start=start,
        end=end,
        collection=collection,
        planned_receipt=plan.planned_receipt(collection),
        predicted_release=predicted,
        target_release=target,
    )
    problems = result.problems
    problems += _suite_problems(window, start, end, booking)
    problems += _staffing_problems(plan, window, start, end)
    problems += _equipment_problems(plan, window, end)
    # Once the material is at the plant, its receipt is no longer a plan; once manufacturing
    # has started, its reagents are issued at the point of use, not reserved.
    started = order.status in IN_MANUFACTURING_OR_LATER
    if not started:
        problems += _reagent_problems(plan, window.stock, end, booking)
    earliest = plan.earliest_start(collection)
    if start < earliest and order.status not in RECEIVED_OR_LATER:
        problems.append(
            Problem(
                "starts_before_receipt",
                f"Manufacturing would start on {start.isoformat()}, before the collected material "
                f"can be there and ready ({earliest.isoformat()}: planned receipt "
                f"{result.planned_receipt.isoformat()} + {plan.start_offset_days} days).",
                start,
            )
        )
    if predicted > target:
        problems.append(
            Problem(
                "release_after_target",
                f"Predicted release {predicted.isoformat()} is {(predicted - target).days} days "
                f"after the target {target.isoformat()} ({plan.target_vein_to_vein_days} days "
                f"from collection on {collection.isoformat()}).",
                predicted,
            )
        )
    return result


def _suite_problems(window: Window, start, end, booking) -> list[Problem]:
    suite = window.suite
    problems = []
    status_codes = {
        Suite.Status.ON_HOLD: "suite_on_hold",
        Suite.Status.MAINTENANCE: "suite_in_maintenance",
        Suite.Status.RETIRED: "suite_retired",
    }
    if suite.status in status_codes:
        problems.append(
            Problem(
                status_codes[suite.status],
                f"Suite {suite.code} is {suite.get_status_display().lower()}.",
            )
        )
    zone = suite.site.zone
    window_start = dt.datetime.combine(start, dt.time.min, tzinfo=zone)
    window_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    holds = [
        hold
        for hold in window.holds
        if (hold.ends_at is None or hold.ends_at > window_start) and hold.starts_at < window_end
    ]
    for hold in holds:
        code = (
            "suite_in_maintenance" if hold.kind == SuiteHold.Kind.MAINTENANCE else "suite_on_hold"
        )
        until = (
            f" until {timezone.localtime(hold.ends_at, zone):%Y-%m-%d %H:%M}"
            if hold.ends_at
            else " until lifted"
        )
        problems.append(
            Problem(
                code,
                f"Suite {suite.code}: {hold.get_kind_display().lower()} from "
                f"{timezone.localtime(hold.starts_at, zone):%Y-%m-%d %H:%M}{until} "
                f"({hold.reason}).",
                timezone.localtime(hold.starts_at, zone).date(),
            )
        )
    if window.held_by_deviation:
        problems.append(
            Problem(
                "suite_holding_deviation", f"An open critical deviation holds suite {suite.code}."
            )
        )
    others = [
        other
        for other in window.bookings
        if other.start_date <= end
        and other.end_date >= start
        and not (booking is not None and other.pk == booking.pk)
    ]
    taken: dict[dt.date, list[Booking]] = defaultdict(list)
    for other in others:
        for day in days(max(start, other.start_date), min(end, other.end_date)):
            taken[day].append(other)
    full = sorted(day for day, on_day in taken.items() if len(on_day) >= suite.batch_capacity)
    if full:
        names = sorted({b.order.patient.coi for day in full for b in taken[day]})
        problems.append(
            Problem(
                "suite_booked",
                f"Suite {suite.code} is fully booked on {len(full)} of the days "
                f"({full[0].isoformat()} to {full[-1].isoformat()}) for "
                f"{', '.join(names)}.",
                full[0],
            )
        )
    return problems


def _staffing_problems(plan: ProcessPlan, window: Window, start, end) -> list[Problem]:
    suite = window.suite
    needs: dict[int, list] = defaultdict(list)
    for need in plan.staffing.all():
        needs[need.day].append(need)
    if not needs:
        return []
    rostered, checked = window.rostered, window.certified
    span = days(start, end)
    problems = []
    for number, day in enumerate(span, start=1):
        day_needs = needs.get(number, [])
        if not day_needs:
            continue
        people = list(rostered.get(day, {}))
        able: dict[str, set[int]] = {}
        why: dict[str, list[str]] = {}
        for need in day_needs:
            code = need.qualification.code
            results = [checked[(day, code)][pk] for pk in people] if people else []
            able[code] = {r.person.pk for r in results if r.certified}
            why[code] = [r.message() for r in results if not r.certified]
        # One person covers one need of the day: the needs take distinct people.
        slots = [need for need in day_needs for _ in range(need.operators)]
        filled = _cover([able[need.qualification.code] for need in slots])
        for need in day_needs:
            code = need.qualification.code
            covered = sum(
                1
                for slot, who in zip(slots, filled, strict=True)
                if slot is need and who is not None
            )
            if covered >= need.operators:
                continue
            certified = len(able[code])
            detail = (" " + " ".join(why[code])) if why[code] else ""
            if certified >= need.operators:
                detail += (
                    f" One person covers one need a day; only {covered} of them are free for it."
                )
            problems.append(
                Problem(
                    "operators_not_certified",
                    f"Day {number} ({day.isoformat()}): {need.operators} certified operator(s) "
                    f"for {code} needed in {suite.code}, {certified} of {len(people)} rostered "
                    f"are.{detail}",
                    day,
                )
            )
    return problems


def _cover(slots: list[set[int]]) -> list[int | None]:
    """Distinct people for the slots (each slot: who may fill it), as many slots filled as
    can be (a maximum bipartite matching by augmenting paths; a day has a handful)."""
    holder: dict[int, int] = {}

    def place(slot: int, seen: set[int]) -> bool:
        for person in slots[slot]:
            if person in seen:
                continue
            seen.add(person)
            if person not in holder or place(holder[person], seen):
                holder[person] = slot
                return True
        return False

    for slot in range(len(slots)):
        place(slot, set())
    filled: list[int | None] = [None] * len(slots)
    for person, slot in holder.items():
        filled[slot] = person
    return filled


def _equipment_problems(plan: ProcessPlan, window: Window, end) -> list[Problem]:
    suite = window.suite
    zone = suite.site.zone
    through = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    by_type: dict[int, list[Equipment]] = defaultdict(list)
    for piece in window.equipment:
        by_type[piece.equipment_type_id].append(piece)
    problems = []
    for need in plan.equipment.all():
        kind = need.equipment_type
        pieces = by_type.get(kind.pk, [])
        if len(pieces) < need.quantity:
            problems.append(
                Problem(
                    "equipment_missing",
                    f"{need.quantity} × {kind.name} ({kind.code}) needed in "
                    f"{suite.code}; {len(pieces)} in service there.",
                )
            )
            continue
        findings = []
        usable = 0
        for piece in pieces:
            found = []
            if piece.calibration_due < end:
                found.append(
                    Problem(
                        "equipment_calibration_due",
                        f"{piece.identifier} ({kind.code}) is due for calibration on "
                        f"{piece.calibration_due.isoformat()}, before the last day "
                        f"{end.isoformat()}.",
                        piece.calibration_due,
                    )
                )
            if (
                piece.cleaning_status != Equipment.Cleaning.CLEAN
                or piece.clean_until is None
                or piece.clean_until < through
            ):
                state = piece.cleaning_status_at()
                until = ""
                if piece.clean_until and state == Equipment.Cleaning.CLEAN:
                    local = timezone.localtime(piece.clean_until, zone)
                    until = f"; clean until {local:%Y-%m-%d %H:%M}"
                found.append(
                    Problem(
                        "equipment_not_clean",
                        f"{piece.identifier} ({kind.code}) is not clean through "
                        f"{end.isoformat()} (now {Equipment.Cleaning(state).label.lower()}"
                        f"{until}).",
                        end,
                    )
                )
            usable += not found
            findings += found
        if usable < need.quantity:
            problems += findings
    return problems


def _amount(quantity: Decimal) -> str:
    return format(quantity.normalize(), "f")


def _reagent_problems(plan: ProcessPlan, stock: Stock, end, booking) -> list[Problem]:
    needs = list(plan.materials.all())
    if not needs:
        return []
    free = stock.free([n.material_id for n in needs], end, booking)
    problems = []
    for need in needs:
        available = sum((left for _, left in free.get(need.material_id, [])), Decimal(0))
        if available < need.quantity:
            material = need.material
            problems.append(
                Problem(
                    "reagent_short",
                    f"{material.code}: {_amount(need.quantity)} {material.unit} needed; "
                    f"{_amount(available)} {material.unit} released, unexpired through "
                    f"{end.isoformat()} and not reserved by other bookings.",
                )
            )
    return problems
