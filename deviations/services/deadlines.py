"""Response deadlines: from a deviation's classification and patient impact, by the site's
policy (or the defaults), counting working days without weekends in the site's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from deviations.models import DeadlinePolicy, Tier
from deviations.models.config import DEFAULT_POLICIES, DeadlineUnit
from deviations.models.deviation import Classification, PatientImpact

SATURDAY = 5


def tier_for(classification: str, patient_impact: str) -> str:
    """Critical or a patient impact is urgent; otherwise the classification decides."""
    if classification == Classification.CRITICAL or patient_impact == PatientImpact.YES:
        return Tier.URGENT
    return Tier.MAJOR if classification == Classification.MAJOR else Tier.MINOR


def policy_for(site, tier: str) -> dict:
    row = DeadlinePolicy.objects.filter(site=site, tier=tier).first()
    if row is None:
        return dict(DEFAULT_POLICIES[tier])
    return {"acknowledge_amount": row.acknowledge_amount,
            "acknowledge_unit": row.acknowledge_unit,
            "disposition_amount": row.disposition_amount,
            "disposition_unit": row.disposition_unit}


def add_time(start: datetime, amount: int, unit: str, zone: ZoneInfo) -> datetime:
    if unit == DeadlineUnit.MINUTES:
        return start + timedelta(minutes=amount)
    if unit == DeadlineUnit.HOURS:
        return start + timedelta(hours=amount)
    # Working days: the same local time, ``amount`` weekdays later (weekends skipped).
    local = start.astimezone(zone)
    counted = 0
    while counted < amount:
        local = local + timedelta(days=1)  # wall-clock arithmetic in the zone
        if local.weekday() < SATURDAY:
            counted += 1
    return local.astimezone(start.tzinfo)


def deadlines_for(site, classification: str, patient_impact: str,
                  start: datetime) -> tuple[datetime, datetime | None]:
    """(acknowledge by, dispose of the material by or None) for a deviation detected at
    ``start``."""
    policy = policy_for(site, tier_for(classification, patient_impact))
    acknowledge = add_time(start, policy["acknowledge_amount"], policy["acknowledge_unit"],
                           site.zone)
    disposition = None
    if policy["disposition_amount"]:
        disposition = add_time(start, policy["disposition_amount"], policy["disposition_unit"],
                               site.zone)
    return acknowledge, disposition
