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
from scheduling.models import Equipment, LogbookEntry, Suite, check_transition
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
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        equipment = _lock(equipment)
        if equipment.status == Equipment.Status.RETIRED:
            raise SchedulingRefused(f"{equipment.identifier} is retired.", code="equipment_retired")
        entry = _entry(
            actor=actor,
            suite=equipment.suite,
            equipment=equipment,
            kind=LogbookEntry.Kind.CLEANING,
            text=text,
            releases=True,
            from_status=equipment.cleaning_status_at(),
            to_status=Equipment.Cleaning.CLEAN,
        )
        equipment.cleaning_status = Equipment.Cleaning.CLEAN
        equipment.clean_until = clean_until
        audit.stamp(equipment, user=actor, reason=text)
        equipment.save()
        apply_signature(signer=signer, record=entry, meaning=Meaning.RELEASED, reason=text)
    return entry


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
    if next_due <= timezone.localdate():
        raise SchedulingRefused(
            "The next calibration must be due in the future.",
            code="invalid",
            fields={"next_due": ["Must be in the future."]},
        )
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        equipment = _lock(equipment)
        entry = _entry(
            actor=actor,
            suite=equipment.suite,
            equipment=equipment,
            kind=LogbookEntry.Kind.CALIBRATION,
            text=text,
            releases=True,
            from_status=equipment.calibration_due.isoformat(),
            to_status=next_due.isoformat(),
        )
        equipment.calibration_due = next_due
        audit.stamp(equipment, user=actor, reason=text)
        equipment.save()
        apply_signature(signer=signer, record=entry, meaning=Meaning.RELEASED, reason=text)
    return entry


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
    """Take equipment out of service or retire it (with a reason), or put it back in service
    (a release: signed)."""
    require(actor, "scheduling.add_logbookentry", "write in logbooks", site=equipment.site)
    reason = require_reason(reason)
    if status not in Equipment.Status.values:
        raise SchedulingRefused(
            f"“{status}” is not an equipment status.",
            code="invalid",
            fields={"status": ["Unknown status."]},
        )
    releases = status == Equipment.Status.IN_SERVICE
    signer = None
    if releases:
        require(actor, "scheduling.release_equipment", "put equipment back in service")
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
            apply_signature(signer=signer, record=entry, meaning=Meaning.RELEASED, reason=reason)
    return entry


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
