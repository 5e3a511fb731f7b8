"""QA's signed decisions on a lot, and the daily expiry job."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from mes import audit
from mes.models import Meaning, Site, User
from mes.services.notifications import notify
from mes.services.signatures import apply_signature, reauthenticate
from reagents.models import RECEIVER_CANNOT_RELEASE, LotStatus, LotStatusChange, ReagentLot
from reagents.services.common import (
    ReagentRefused,
    change_status,
    require,
    require_reason,
    status_label,
)

EXPIRY_WARNING_DAYS = 30
# A depleted lot has nothing left to use; rejected and expired lots are final.
ALLOWED_TO_EXPIRE = {LotStatus.QUARANTINE, LotStatus.RELEASED, LotStatus.ON_HOLD}


def expiry_warning_days() -> int:
    return int(getattr(settings, "REAGENTS_EXPIRY_WARNING_DAYS", EXPIRY_WARNING_DAYS))


def release_lot(*, user: User, password: str, lot: ReagentLot, coa_reference: str,
                reason: str = "", request: HttpRequest | None = None) -> LotStatusChange:
    """QA releases a quarantined lot (or releases a held lot again) with the certificate of
    analysis reference, signed as released; nobody releases a lot they received."""
    coa_reference = (coa_reference or "").strip()
    if not coa_reference:
        raise ReagentRefused("The certificate of analysis reference is required to release "
                             "a lot.", code="coa_required",
                             fields={"coa_reference": ["Required."]})
    reason = (reason or "").strip() or f"Released against CoA {coa_reference}"
    return _decide(user=user, password=password, lot=lot, target=LotStatus.RELEASED,
                   meaning=Meaning.RELEASED, reason=reason, coa_reference=coa_reference,
                   request=request)


def reject_lot(*, user: User, password: str, lot: ReagentLot, reason: str,
               request: HttpRequest | None = None) -> LotStatusChange:
    """QA rejects a quarantined or held lot, with a reason, signed as rejected."""
    return _decide(user=user, password=password, lot=lot, target=LotStatus.REJECTED,
                   meaning=Meaning.REJECTED, reason=require_reason(reason), request=request)


def hold_lot(*, user: User, password: str, lot: ReagentLot, reason: str,
             request: HttpRequest | None = None) -> LotStatusChange:
    """QA puts a released lot on hold (investigation, supplier recall), signed as approved."""
    return _decide(user=user, password=password, lot=lot, target=LotStatus.ON_HOLD,
                   meaning=Meaning.APPROVED, reason=require_reason(reason), request=request)


def check_lot_decision(*, user: User, lot: ReagentLot, target: str) -> None:
    """Everything about QA's decision that can be checked before the password is asked:
    the permission at the lot's site, the transition, expiry and depletion, and independence
    (nobody releases a lot they received). Refuses with the rule's code; writes nothing."""
    lot = ReagentLot.objects.select_related("site").get(pk=lot.pk)  # the caller's may be stale
    require(user, "reagents.release_lot", "release, reject or hold reagent lots", lot.site)
    _check_decision(lot, target, user)


def _decide(*, user, password, lot, target, meaning, reason, request, coa_reference=""):
    check_lot_decision(user=user, lot=lot, target=target)
    signer = reauthenticate(user=user, password=password, request=request)
    with transaction.atomic():
        lot = ReagentLot.objects.select_for_update().get(pk=lot.pk)
        _check_decision(lot, target, signer)
        change = change_status(lot, target, user=signer, reason=reason,
                               coa_reference=coa_reference)
        if coa_reference:
            lot.coa_reference = coa_reference
        audit.stamp(lot, user=signer, reason=reason)
        lot.save()
        apply_signature(signer=signer, record=change, meaning=meaning, reason=reason)
    return change


def _check_decision(lot: ReagentLot, target: str, user: User) -> None:
    if target == LotStatus.RELEASED and lot.received_by_id == user.pk:
        raise ReagentRefused(f"{user.full_name} received lot {lot.supplier_lot} and cannot "
                             "also release it; another QA reviewer must release it.",
                             code=RECEIVER_CANNOT_RELEASE, status=403)
    if target == LotStatus.RELEASED and lot.status == LotStatus.DEPLETED:
        raise ReagentRefused(f"Lot {lot.supplier_lot} is depleted; there is nothing to "
                             "release.", code="lot_transition_refused")
    if target == LotStatus.RELEASED and lot.is_past_expiry():
        raise ReagentRefused(f"Lot {lot.supplier_lot} expired on {lot.expiry_date:%Y-%m-%d} "
                             "and cannot be released.", code="lot_expired")
    if lot.status == target:
        raise ReagentRefused(f"Lot {lot.supplier_lot} is already {status_label(target)}.",
                             code="no_change")
    lot.check_transition(target)


def mark_expired_lots(*, user: User, now: dt.datetime | None = None) -> list[ReagentLot]:
    """Mark every lot past its expiry date (in its site's time zone) expired; idempotent."""
    now = now or timezone.now()
    # No site is more than a day ahead of UTC: lots expiring on or before today (UTC) are
    # the only candidates, checked exactly against their own site's date below.
    latest = now.date() + dt.timedelta(days=1)
    candidates = (ReagentLot.objects.select_related("site")
                  .filter(status__in=ALLOWED_TO_EXPIRE, expiry_date__lt=latest)
                  .order_by("pk"))
    expired = []
    for candidate in candidates:
        if not candidate.is_past_expiry(now):
            continue
        with transaction.atomic():
            lot = ReagentLot.objects.select_for_update().get(pk=candidate.pk)
            if lot.status not in ALLOWED_TO_EXPIRE:
                continue
            reason = (f"Past its expiry date {lot.expiry_date:%Y-%m-%d} "
                      f"({candidate.site.time_zone})")
            change_status(lot, LotStatus.EXPIRED, user=user, reason=reason)
            audit.stamp(lot, user=user, reason=reason)
            lot.save()
            expired.append(lot)
    return expired



def warn_qa_of_expiring_lots(*, days: int | None = None,
                             now: dt.datetime | None = None) -> int:
    """Tell each site's QA which released lots expire within ``days``; one message per person
    per site and day, so running the job twice sends nothing new. Returns messages sent."""
    from reagents.selectors import qa_reviewers, released_lots_expiring_within

    days = expiry_warning_days() if days is None else days
    now = now or timezone.now()
    sent = 0
    for site in Site.objects.filter(is_active=True).order_by("code"):
        lots = list(released_lots_expiring_within(site=site, days=days, now=now))
        if not lots:
            continue
        today = timezone.localtime(now, site.zone).date()
        subject = (f"{len(lots)} released reagent lot(s) at {site.code} expire within "
                   f"{days} days ({today:%Y-%m-%d})")
        body = "\n".join(f"{lot.material.code} {lot.material.name} lot {lot.supplier_lot}: "
                         f"expires {lot.expiry_date:%Y-%m-%d}, {lot.quantity_on_hand} "
                         f"{lot.material.unit} on hand" for lot in lots)
        recipients = [person for person in qa_reviewers(site)
                      if not person.notifications.filter(subject=subject).exists()]
        link = reverse("reagents:lot-list") + f"?expiring={days}"
        sent += len(notify(recipients=recipients, subject=subject, body=body, link=link))
    return sent
