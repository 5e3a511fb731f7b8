"""Equipment and room logbooks (EU GMP chapter 4.31): every use, cleaning, calibration,
maintenance and status change is an append-only entry, attributed; the entries that release
equipment or a suite (cleaned, calibrated, back in service, available again) are signed.

Batch execution calls :func:`record_use` when a step uses a piece of equipment.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from mes import audit
from mes.models import Meaning, User
from mes.services.signatures import apply_signature, reauthenticate
from scheduling.models import (
    Booking,
    Equipment,
    LogbookEntry,
    Suite,
    SuiteHold,
    check_transition,
)
from scheduling.services.common import SchedulingRefused, require, require_reason


def _entry(
    *,
    actor: User,
    suite: Suite,
    kind: str,
    text: str,
    equipment=None,
    occurred_at=None,
    releases: bool = False,
    **fields,
) -> LogbookEntry:
    entry = LogbookEntry(
        site=suite.site,
        suite=suite,
        equipment=equipment,
        kind=kind,
        text=text,
        recorded_by=actor,
        releases=releases,
        occurred_at=occurred_at or timezone.now(),
        **fields,
    )
    audit.stamp(entry, user=actor, reason=text)
    entry.save()
    return entry


def _lock(equipment: Equipment) -> Equipment:
    return (
        Equipment.objects.select_for_update(of=("self",))
        .select_related("suite__site")
        .get(pk=equipment.pk)
    )


def usability_problems(equipment: Equipment, at: dt.datetime | None = None) -> list[str]:
    """Why ``equipment`` cannot be used at ``at`` (empty: it can)."""
    at = at or timezone.now()
    problems = []
    if equipment.status != Equipment.Status.IN_SERVICE:
        problems.append(f"{equipment.identifier} is {equipment.get_status_display().lower()}.")
    today = timezone.localtime(at, equipment.suite.site.zone).date()
    if equipment.calibration_due < today:
        problems.append(
            f"{equipment.identifier}'s calibration was due on "
            f"{equipment.calibration_due.isoformat()}."
        )
    if equipment.cleaning_status_at(at) != Equipment.Cleaning.CLEAN:
        state = Equipment.Cleaning(equipment.cleaning_status_at(at)).label.lower()
        problems.append(f"{equipment.identifier} is not clean ({state}).")
    return problems


@transaction.atomic
def record_use(
    *,
    actor: User,
    equipment: Equipment,
    batch_number: str,
    patient_coi: str = "",
    text: str = "",
    finished: bool = True,
    at: dt.datetime | None = None,
) -> LogbookEntry:
    """A batch used the equipment: only in service, calibrated and clean equipment may be
    used. After use it is dirty (``finished``) or in use until the step ends."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=equipment.site)
    equipment = _lock(equipment)
    if not (batch_number or "").strip():
        raise SchedulingRefused(
            "A use names the batch.", code="invalid", fields={"batch_number": ["Required."]}
        )
    if equipment.cleaning_status == Equipment.Cleaning.IN_USE:
        problems = [f"{equipment.identifier} is in use."]
    else:
        problems = usability_problems(equipment, at)
    if problems:
        raise SchedulingRefused(
            " ".join(problems), code="equipment_not_usable", fields={"equipment": problems}
        )
    after = Equipment.Cleaning.DIRTY if finished else Equipment.Cleaning.IN_USE
    entry = _entry(
        actor=actor,
        suite=equipment.suite,
        equipment=equipment,
        kind=LogbookEntry.Kind.USE,
        occurred_at=at,
        text=(text or "").strip() or f"Used for batch {batch_number}",
        batch_number=batch_number.strip(),
        patient_coi=(patient_coi or "").strip(),
        from_status=equipment.cleaning_status,
        to_status=after,
    )
    equipment.cleaning_status = after
    equipment.clean_until = None
    audit.stamp(equipment, user=actor, reason=f"Used for batch {batch_number}")
    equipment.save()
    return entry


@transaction.atomic
def finish_use(*, actor: User, equipment: Equipment, text: str = "") -> LogbookEntry:
    """The use of equipment left in use (``record_use(finished=False)``) has ended: it is
    dirty until cleaned, and its logbook says so, naming the batch of that use."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=equipment.site)
    equipment = _lock(equipment)
    if equipment.cleaning_status != Equipment.Cleaning.IN_USE:
        raise SchedulingRefused(
            f"{equipment.identifier} is not in use.", code="equipment_not_in_use"
        )
    use = (
        LogbookEntry.objects.filter(equipment=equipment, kind=LogbookEntry.Kind.USE)
        .order_by("-occurred_at", "-pk")
        .first()
    )
    batch = use.batch_number if use else ""
    entry = _entry(
        actor=actor,
        suite=equipment.suite,
        equipment=equipment,
        kind=LogbookEntry.Kind.USE,
        text=(text or "").strip() or f"Use for batch {batch} finished",
        batch_number=batch,
        patient_coi=use.patient_coi if use else "",
        from_status=Equipment.Cleaning.IN_USE,
        to_status=Equipment.Cleaning.DIRTY,
    )
    equipment.cleaning_status = Equipment.Cleaning.DIRTY
    audit.stamp(equipment, user=actor, reason=entry.text)
    equipment.save()
    return entry


def _signed_release(
    *,
    actor: User,
    password: str,
    request: HttpRequest | None,
    equipment: Equipment,
    kind: str,
    text: str,
    change,
) -> LogbookEntry:
    """A logbook entry that releases equipment (cleaning, calibration): the password first,
    then, under the equipment's lock, ``change`` (which returns the status before and after)
    applied, the entry written and signed *released*, in one transaction."""
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        equipment = _lock(equipment)
        if equipment.status == Equipment.Status.RETIRED:
            raise SchedulingRefused(f"{equipment.identifier} is retired.", code="equipment_retired")
        before, after = change(equipment)
        entry = _entry(
            actor=actor,
            suite=equipment.suite,
            equipment=equipment,
            kind=kind,
            text=text,
            releases=True,
            from_status=before,
            to_status=after,
        )
        audit.stamp(equipment, user=actor, reason=text)
        equipment.save()
        apply_signature(signer=signer, record=entry, meaning=Meaning.RELEASED, reason=text)
    return entry


def record_cleaning(
    *,
    actor: User,
    password: str,
    equipment: Equipment,
    clean_until: dt.datetime,
    text: str,
    request: HttpRequest | None = None,
) -> LogbookEntry:
    """Cleaning releases the equipment as clean until ``clean_until`` (its clean hold time),
    signed *released* by someone allowed to release equipment."""
    require(actor, "scheduling.release_equipment", "release cleaned equipment", site=equipment.site)
    text = require_reason(text, "What was cleaned and how")
    if clean_until <= timezone.now():
        raise SchedulingRefused(
            "The clean hold must end in the future.",
            code="invalid",
            fields={"clean_until": ["Must be in the future."]},
        )

    def clean(locked: Equipment) -> tuple[str, str]:
        before = locked.cleaning_status_at()
        locked.cleaning_status, locked.clean_until = Equipment.Cleaning.CLEAN, clean_until
        return before, Equipment.Cleaning.CLEAN

    return _signed_release(
        actor=actor,
        password=password,
        request=request,
        equipment=equipment,
        kind=LogbookEntry.Kind.CLEANING,
        text=text,
        change=clean,
    )


def record_calibration(
    *,
    actor: User,
    password: str,
    equipment: Equipment,
    next_due: dt.date,
    text: str,
    request: HttpRequest | None = None,
) -> LogbookEntry:
    """A calibration releases the equipment until its next due date, signed *released*."""
    require(
        actor, "scheduling.release_equipment", "release calibrated equipment", site=equipment.site
    )
    text = require_reason(text, "The calibration and its certificate")
    if next_due <= timezone.localtime(timezone.now(), equipment.site.zone).date():
        raise SchedulingRefused(
            "The next calibration must be due in the future.",
            code="invalid",
            fields={"next_due": ["Must be in the future."]},
        )

    def calibrate(locked: Equipment) -> tuple[str, str]:
        before = locked.calibration_due.isoformat()
        locked.calibration_due = next_due
        return before, next_due.isoformat()

    return _signed_release(
        actor=actor,
        password=password,
        request=request,
        equipment=equipment,
        kind=LogbookEntry.Kind.CALIBRATION,
        text=text,
        change=calibrate,
    )


@transaction.atomic
def record_maintenance(*, actor: User, equipment: Equipment, text: str) -> LogbookEntry:
    """A maintenance note (the equipment's status is changed separately)."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=equipment.site)
    text = require_reason(text, "What was done")
    equipment = _lock(equipment)
    return _entry(
        actor=actor,
        suite=equipment.suite,
        equipment=equipment,
        kind=LogbookEntry.Kind.MAINTENANCE,
        text=text,
    )


def change_equipment_status(
    *,
    actor: User,
    equipment: Equipment,
    status: str,
    reason: str,
    password: str = "",
    request: HttpRequest | None = None,
) -> LogbookEntry:
    """Take equipment out of service (with a reason), put it back in service (a release:
    signed *released*) or retire it, for good (signed *approved*); both signed changes need
    the right to release equipment."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=equipment.site)
    reason = require_reason(reason)
    if status not in Equipment.Status.values:
        raise SchedulingRefused(
            f"“{status}” is not an equipment status.",
            code="invalid",
            fields={"status": ["Unknown status."]},
        )
    releases = status == Equipment.Status.IN_SERVICE
    retires = status == Equipment.Status.RETIRED
    signer = None
    if releases or retires:
        require(
            actor,
            "scheduling.release_equipment",
            "put equipment back in service" if releases else "retire equipment",
            site=equipment.site,
        )
        signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        equipment = _lock(equipment)
        check_transition(Equipment.ALLOWED, equipment.status, status, f"{equipment.identifier}")
        entry = _entry(
            actor=actor,
            suite=equipment.suite,
            equipment=equipment,
            kind=LogbookEntry.Kind.STATUS_CHANGE,
            text=reason,
            releases=releases,
            from_status=equipment.status,
            to_status=status,
        )
        equipment.status = status
        audit.stamp(equipment, user=actor, reason=reason)
        equipment.save()
        if signer is not None:
            meaning = Meaning.RELEASED if releases else Meaning.APPROVED
            apply_signature(signer=signer, record=entry, meaning=meaning, reason=reason)
    return entry


def _lock_suite(suite: Suite) -> Suite:
    return Suite.objects.select_for_update(of=("self",)).select_related("site").get(pk=suite.pk)


def record_suite_cleaning(
    *,
    actor: User,
    password: str,
    suite: Suite,
    text: str,
    request: HttpRequest | None = None,
) -> LogbookEntry:
    """A cleaning of the room itself, in the suite's logbook, signed *performed* by the person
    who did it (EU GMP chapter 4.31: cleaning of premises is recorded)."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=suite.site)
    text = require_reason(text, "What was cleaned and how")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        suite = _lock_suite(suite)
        if suite.status == Suite.Status.RETIRED:
            raise SchedulingRefused(f"Suite {suite.code} is retired.", code="suite_retired")
        entry = _entry(actor=actor, suite=suite, kind=LogbookEntry.Kind.CLEANING, text=text)
        apply_signature(signer=signer, record=entry, meaning=Meaning.PERFORMED, reason=text)
    return entry


@transaction.atomic
def record_suite_maintenance(*, actor: User, suite: Suite, text: str) -> LogbookEntry:
    """A maintenance note on the room itself, in the suite's logbook (its status is changed
    separately)."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=suite.site)
    text = require_reason(text, "What was done")
    suite = _lock_suite(suite)
    return _entry(actor=actor, suite=suite, kind=LogbookEntry.Kind.MAINTENANCE, text=text)


def lift_hold(
    *,
    actor: User,
    hold: SuiteHold,
    reason: str,
    password: str = "",
    request: HttpRequest | None = None,
) -> SuiteHold:
    """Lift a suite's hold or maintenance window before it ends: that releases the suite for
    work, so it is a signed (*released*) entry in the room logbook, by someone allowed to
    change a suite's status, with a reason."""
    require(actor, "scheduling.change_suite_status", "lift suite holds", site=hold.site)
    reason = require_reason(reason)
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        hold = (
            SuiteHold.objects.select_for_update(of=("self",))
            .select_related("suite__site")
            .get(pk=hold.pk)
        )
        if hold.status != SuiteHold.Status.ACTIVE:
            raise SchedulingRefused("The hold is already lifted.", code="hold_not_active")
        entry = _entry(
            actor=actor,
            suite=hold.suite,
            kind=LogbookEntry.Kind.STATUS_CHANGE,
            text=reason,
            releases=True,
            from_status=f"{hold.kind} {hold.pk}"[:32],
            to_status=SuiteHold.Status.LIFTED,
        )
        hold.status = SuiteHold.Status.LIFTED
        audit.stamp(hold, user=actor, reason=reason)
        hold.save()
        apply_signature(signer=signer, record=entry, meaning=Meaning.RELEASED, reason=reason)
    return hold


def change_suite_status(
    *,
    actor: User,
    suite: Suite,
    status: str,
    reason: str,
    password: str = "",
    request: HttpRequest | None = None,
) -> LogbookEntry:
    """Put a suite on hold, into maintenance or retire it (with a reason); making it available
    again is a release, signed by someone allowed to change suite status."""
    require(actor, "scheduling.change_suite_status", "change a suite's status", site=suite.site)
    reason = require_reason(reason)
    if status not in Suite.Status.values:
        raise SchedulingRefused(
            f"“{status}” is not a suite status.",
            code="invalid",
            fields={"status": ["Unknown status."]},
        )
    releases = status == Suite.Status.AVAILABLE
    signer = reauthenticate(user=actor, password=password, request=request) if releases else None
    with transaction.atomic():
        suite = (
            Suite.objects.select_for_update(of=("self",)).select_related("site").get(pk=suite.pk)
        )
        check_transition(Suite.ALLOWED, suite.status, status, f"Suite {suite.code}")
        today = timezone.localtime(timezone.now(), suite.site.zone).date()
        booked = Booking.objects.active().filter(suite=suite, end_date__gte=today).count()
        if status == Suite.Status.RETIRED and booked:
            raise SchedulingRefused(
                f"Suite {suite.code} has {booked} booking(s) to come; move or cancel them "
                "before retiring it.",
                code="suite_has_bookings",
            )
        entry = _entry(
            actor=actor,
            suite=suite,
            kind=LogbookEntry.Kind.STATUS_CHANGE,
            text=reason,
            releases=releases,
            from_status=suite.status,
            to_status=status,
        )
        suite.status = status
        audit.stamp(suite, user=actor, reason=reason)
        suite.save()
        if signer is not None:
            apply_signature(signer=signer, record=entry, meaning=Meaning.RELEASED, reason=reason)
    return entry
