"""Setting up the plant for scheduling: suites, equipment, shifts, the roster, maintenance
windows, and each product's process plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db import IntegrityError, transaction

from custody.models import Product
from mes import audit
from mes.errors import Conflict, DomainError
from mes.models import Site, User
from reagents.models import Material
from scheduling.models import (
    Equipment,
    EquipmentType,
    ProcessEquipment,
    ProcessMaterial,
    ProcessPlan,
    ProcessStaffing,
    RosterEntry,
    Shift,
    Suite,
    SuiteHold,
)
from scheduling.services.common import SchedulingRefused, require, require_reason
from training.models import CleanroomGrade, Qualification


def _named(model, code: str, field: str):
    """The record of ``model`` with ``code``; an unknown code is the caller's error."""
    found = model.objects.filter(code=code).first()
    if found is None:
        raise DomainError(
            f"Unknown {model._meta.verbose_name}: {code}.",
            code="invalid",
            fields={field: [f"Unknown: {code}"]},
        )
    return found


def _create(record, *, actor: User, reason: str, taken: str):
    audit.stamp(record, user=actor, reason=reason)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError as exc:
        raise Conflict(taken, code="duplicate") from exc
    return record


def create_suite(
    *, actor: User, site: Site, code: str, name: str, grade: str, batch_capacity: int = 1
) -> Suite:
    require(actor, "scheduling.add_suite", "create suites", site=site)
    code = (code or "").strip().upper()
    if not code:
        raise DomainError("A suite needs a code.", code="invalid", fields={"code": ["Required."]})
    if grade not in CleanroomGrade.values:
        raise DomainError(
            f"“{grade}” is not a cleanroom grade (A, B, C or D).",
            code="invalid",
            fields={"grade": ["Unknown grade."]},
        )
    if not isinstance(batch_capacity, int) or batch_capacity < 1:
        raise DomainError(
            "A suite holds at least one patient batch.",
            code="invalid",
            fields={"batch_capacity": ["At least 1."]},
        )
    return _create(
        Suite(site=site, code=code, name=name, grade=grade, batch_capacity=batch_capacity),
        actor=actor,
        reason="Suite created",
        taken=f"{site.code} already has a suite {code}.",
    )


def create_equipment_type(*, actor: User, code: str, name: str) -> EquipmentType:
    require(actor, "scheduling.add_equipmenttype", "create equipment types")
    return _create(
        EquipmentType(code=code.strip().upper(), name=name),
        actor=actor,
        reason="Equipment type created",
        taken=f"The equipment type {code} exists.",
    )


def register_equipment(
    *,
    actor: User,
    suite: Suite,
    equipment_type: EquipmentType,
    identifier: str,
    calibration_due: dt.date,
    name: str = "",
) -> Equipment:
    """New equipment starts dirty: it is cleaned (and signed) before its first use."""
    require(actor, "scheduling.add_equipment", "register equipment", site=suite.site)
    return _create(
        Equipment(
            site=suite.site,
            suite=suite,
            equipment_type=equipment_type,
            identifier=identifier.strip(),
            name=name,
            calibration_due=calibration_due,
        ),
        actor=actor,
        reason="Equipment registered",
        taken=f"{suite.site.code} already has equipment {identifier}.",
    )


def create_shift(*, actor: User, site: Site, name: str, starts: dt.time, ends: dt.time) -> Shift:
    require(actor, "scheduling.add_shift", "configure shifts", site=site)
    return _create(
        Shift(site=site, name=name.strip(), starts=starts, ends=ends),
        actor=actor,
        reason="Shift configured",
        taken=f"{site.code} already has a shift {name}.",
    )


def roster(*, actor: User, person: User, suite: Suite, day: dt.date, shift: Shift) -> RosterEntry:
    """Roster ``person`` to ``suite`` on ``day`` in ``shift`` (one place per shift)."""
    require(actor, "scheduling.add_rosterentry", "roster operators", site=suite.site)
    if shift.site_id != suite.site_id:
        raise DomainError(
            "The shift is not of the suite's site.",
            code="wrong_site",
            fields={"shift": ["Another site's shift."]},
        )
    if not person.has_site(suite.site):
        raise DomainError(
            f"{person.full_name} has no access to {suite.site.code}.",
            code="no_site_access",
            fields={"person": ["No access to the site."]},
        )
    return _create(
        RosterEntry(site=suite.site, person=person, suite=suite, day=day, shift=shift),
        actor=actor,
        reason="Rostered",
        taken=f"{person.full_name} is already rostered on {day} in {shift.name}.",
    )


@transaction.atomic
def withdraw_from_roster(*, actor: User, entry: RosterEntry, reason: str) -> RosterEntry:
    require(actor, "scheduling.change_rosterentry", "change the roster", site=entry.site)
    reason = require_reason(reason)
    entry = RosterEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.status != RosterEntry.Status.ACTIVE:
        raise SchedulingRefused("The roster entry is already withdrawn.", code="withdrawn")
    entry.status = RosterEntry.Status.WITHDRAWN
    audit.stamp(entry, user=actor, reason=reason)
    entry.save()
    return entry


def plan_maintenance(
    *, actor: User, suite: Suite, starts_at: dt.datetime, ends_at: dt.datetime, reason: str
) -> SuiteHold:
    """A maintenance window: the suite cannot be used between the two moments."""
    require(actor, "scheduling.add_suitehold", "plan suite maintenance", site=suite.site)
    reason = require_reason(reason)
    if ends_at <= starts_at:
        raise DomainError(
            "The maintenance must end after it starts.",
            code="invalid",
            fields={"ends_at": ["Must be after the start."]},
        )
    return _create(
        SuiteHold(
            site=suite.site,
            suite=suite,
            kind=SuiteHold.Kind.MAINTENANCE,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            placed_by=actor,
        ),
        actor=actor,
        reason=reason,
        taken="",
    )


@transaction.atomic
def define_process_plan(
    *,
    actor: User,
    product: Product,
    duration_days: int,
    qc_release_days: int,
    target_vein_to_vein_days: int,
    receipt_days_after_collection: int = 1,
    start_offset_days: int = 0,
    staffing: Iterable[tuple[int, str, int]] = (),
    equipment: Iterable[tuple[str, int]] = (),
    materials: Iterable[tuple[str, Decimal | str]] = (),
) -> ProcessPlan:
    """A product's process for scheduling: ``staffing`` as (day, qualification code,
    operators), ``equipment`` as (type code, quantity), ``materials`` as (code, quantity)."""
    require(actor, "scheduling.add_processplan", "define process plans")
    if duration_days < 1:
        raise DomainError(
            "A process lasts at least one day.",
            code="invalid",
            fields={"duration_days": ["At least 1."]},
        )
    reason = f"Process plan of {product.code} defined"
    plan = _create(
        ProcessPlan(
            product=product,
            duration_days=duration_days,
            qc_release_days=qc_release_days,
            target_vein_to_vein_days=target_vein_to_vein_days,
            receipt_days_after_collection=receipt_days_after_collection,
            start_offset_days=start_offset_days,
        ),
        actor=actor,
        reason=reason,
        taken=f"{product.code} already has a process plan.",
    )
    for day, code, operators in staffing:
        if not 1 <= day <= duration_days:
            raise DomainError(
                f"Day {day} is outside the {duration_days}-day process.",
                code="invalid",
                fields={"staffing": ["Day out of range."]},
            )
        _create(
            ProcessStaffing(
                plan=plan,
                day=day,
                operators=operators,
                qualification=_named(Qualification, code, "staffing"),
            ),
            actor=actor,
            reason=reason,
            taken=f"Day {day} lists {code} twice.",
        )
    for code, quantity in equipment:
        _create(
            ProcessEquipment(
                plan=plan,
                quantity=quantity,
                equipment_type=_named(EquipmentType, code, "equipment"),
            ),
            actor=actor,
            reason=reason,
            taken=f"{code} is listed twice.",
        )
    for code, quantity in materials:
        _create(
            ProcessMaterial(
                plan=plan,
                quantity=Decimal(str(quantity)),
                material=_named(Material, code, "materials"),
            ),
            actor=actor,
            reason=reason,
            taken=f"{code} is listed twice.",
        )
    return plan
