"""Granting, renewing, suspending, reinstating and revoking certifications.

Each decision is a `CertificationDecision` signed *approved* with its reason by a Trainer or
QA Reviewer at the certification's site, never by the person themself. A grant or renewal
needs completed training on the effective revision of every SOP the qualification requires.
"""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.http import HttpRequest

from mes import audit
from mes.errors import Conflict, DomainError, PermissionRefused
from mes.models import Meaning, Site, User
from mes.services.signatures import apply_signature, reauthenticate
from training.models import Certification, CertificationDecision, Qualification, check_transition
from training.services import gate
from training.services._common import require_permission, require_reason

DECIDE = "training.decide_certification"


def valid_until_for(qualification: Qualification, valid_from: dt.date) -> dt.date:
    """Valid through the day before the same date ``validity_months`` later."""
    return valid_from + relativedelta(months=qualification.validity_months) - dt.timedelta(days=1)


def _check_decider(actor: User, person_id: int, site: Site, action: str) -> None:
    require_permission(actor, DECIDE, f"{action} certifications")
    if actor.pk == person_id:
        raise PermissionRefused("Nobody may decide on their own certification.")
    if not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} has no access to {site.code}.")


def _training_gaps(person: User, qualification: Qualification, on: dt.date) -> list[str]:
    qualification = gate.qualifications_with_sops().get(pk=qualification.pk)
    facts = gate.load_facts([qualification])
    trainings = gate.load_trainings([person.pk], facts.effective.keys()).get(person.pk, {})
    return [r.message for r in gate.training_reasons(qualification, trainings, facts, on)]


def _decide(*, signer: User, certification: Certification, action: str,
            reason: str) -> CertificationDecision:
    decision = CertificationDecision(certification=certification, site=certification.site,
                                     action=action, reason=reason, decided_by=signer)
    audit.stamp(decision, user=signer, reason=reason)
    decision.save()
    apply_signature(signer=signer, record=decision, meaning=Meaning.APPROVED, reason=reason)
    return decision


def check_grant(*, actor: User, person: User, qualification: Qualification, site: Site,
                reason: str, valid_from: dt.date | None = None) -> tuple[str, dt.date, dt.date]:
    """Everything a grant checks before the signature, so a page can say why a grant is
    impossible instead of asking for a password first (UI.md, Signing). Returns the reason,
    the first and the last day of validity."""
    _check_decider(actor, person.pk, site, "grant")
    reason = require_reason(reason)
    today = gate.local_date(site, None)
    valid_from = valid_from or today
    if not qualification.is_active:
        raise DomainError(f"The qualification {qualification.code} is withdrawn.",
                          code="qualification_withdrawn")
    if not (person.is_active and person.has_site(site)):
        raise DomainError(f"{person.full_name} has no active access to {site.code}.",
                          code="no_site_access")
    valid_until = valid_until_for(qualification, valid_from)
    if valid_from > today + dt.timedelta(days=90) or valid_until < today:
        raise DomainError("A certification starts at most 90 days ahead and must not have "
                          "ended already.", code="invalid",
                          fields={"valid_from": ["Outside the allowed range."]})
    gaps = _training_gaps(person, qualification, today)
    if gaps:
        raise DomainError(f"{person.full_name} cannot be certified for {qualification.code} "
                          "yet: " + " ".join(gaps), code="training_incomplete",
                          fields={"qualification": gaps})
    _refuse_if_certified(person, qualification, site)
    return reason, valid_from, valid_until


def _refuse_if_certified(person: User, qualification: Qualification, site: Site) -> None:
    current = Certification.objects.current().filter(
        person=person, qualification=qualification, site=site).first()
    if current is not None:
        raise Conflict(
            f"{person.full_name} already holds a {current.get_status_display().lower()} "
            f"certification for {qualification.code} at {site.code}, valid until "
            f"{current.valid_until.isoformat()}; renew, reinstate or revoke it instead.",
            code="already_certified")


def grant_certification(*, actor: User, password: str, person: User,
                        qualification: Qualification, site: Site, reason: str,
                        valid_from: dt.date | None = None,
                        request: HttpRequest | None = None) -> Certification:
    """Certify ``person`` for ``qualification`` at ``site``, signed *approved* by ``actor``."""
    reason, valid_from, valid_until = check_grant(
        actor=actor, person=person, qualification=qualification, site=site, reason=reason,
        valid_from=valid_from)

    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        User.objects.select_for_update().get(pk=person.pk)  # one grant at a time per person
        _refuse_if_certified(person, qualification, site)  # again, under the lock
        certification = Certification(person=person, qualification=qualification, site=site,
                                      valid_from=valid_from, valid_until=valid_until)
        audit.stamp(certification, user=signer, reason=reason)
        certification.save()
        _decide(signer=signer, certification=certification,
                action=CertificationDecision.Action.GRANT, reason=reason)
    return certification


def _change(*, actor: User, password: str, certification: Certification, target: str,
            action: str, reason: str, request: HttpRequest | None,
            before=None) -> Certification:
    _check_decider(actor, certification.person_id, certification.site, action)
    reason = require_reason(reason)
    check_transition(Certification.ALLOWED, certification.status, target, "The certification")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        locked = (Certification.objects.select_for_update().select_related("site")
                  .get(pk=certification.pk))
        check_transition(Certification.ALLOWED, locked.status, target, "The certification")
        if before is not None:
            before(locked)
        locked.status = target
        audit.stamp(locked, user=signer, reason=reason)
        locked.save()
        _decide(signer=signer, certification=locked, action=action, reason=reason)
    return locked


DECISION_TARGETS = {"suspend": Certification.Status.SUSPENDED,
                    "reinstate": Certification.Status.ACTIVE,
                    "revoke": Certification.Status.REVOKED,
                    "renew": Certification.Status.ACTIVE}


def check_decision(*, actor: User, certification: Certification, action: str) -> None:
    """What a suspension, reinstatement, revocation or renewal checks before the signature
    (the services check it all again), so the page can say why instead of asking for a
    password first."""
    _check_decider(actor, certification.person_id, certification.site, action)
    target = DECISION_TARGETS[action]
    if action == "renew":
        if certification.status != Certification.Status.ACTIVE:
            raise DomainError("Only an active certification is renewed.", code="not_active")
        gaps = _training_gaps(certification.person, certification.qualification,
                              gate.local_date(certification.site, None))
        if gaps:
            raise DomainError("The certification cannot be renewed yet: " + " ".join(gaps),
                              code="training_incomplete", fields={"qualification": gaps})
        return
    check_transition(Certification.ALLOWED, certification.status, target, "The certification")
    if action == "reinstate" and certification.valid_until < gate.local_date(
            certification.site, None):
        raise DomainError("The certification's validity has ended; grant a new one.",
                          code="expired")


def suspend_certification(*, actor: User, password: str, certification: Certification,
                          reason: str, request: HttpRequest | None = None) -> Certification:
    """Take a certification away for now (e.g. pending retraining), signed with a reason."""
    return _change(actor=actor, password=password, certification=certification,
                   target=Certification.Status.SUSPENDED,
                   action=CertificationDecision.Action.SUSPEND, reason=reason, request=request)


def reinstate_certification(*, actor: User, password: str, certification: Certification,
                            reason: str, request: HttpRequest | None = None) -> Certification:
    """Lift a suspension; a certification whose validity has ended cannot be reinstated."""
    def still_valid(locked: Certification) -> None:
        if locked.valid_until < gate.local_date(locked.site, None):
            raise DomainError("The certification's validity has ended; grant a new one.",
                              code="expired")

    return _change(actor=actor, password=password, certification=certification,
                   target=Certification.Status.ACTIVE,
                   action=CertificationDecision.Action.REINSTATE, reason=reason,
                   request=request, before=still_valid)


def revoke_certification(*, actor: User, password: str, certification: Certification,
                         reason: str, request: HttpRequest | None = None) -> Certification:
    """End a certification for good, signed with a reason."""
    return _change(actor=actor, password=password, certification=certification,
                   target=Certification.Status.REVOKED,
                   action=CertificationDecision.Action.REVOKE, reason=reason, request=request)


def renew_certification(*, actor: User, password: str, certification: Certification,
                        reason: str, request: HttpRequest | None = None) -> Certification:
    """Extend an active certification by its qualification's validity, from its current end
    (or today, if later); the training must be current, as for a grant."""
    today = gate.local_date(certification.site, None)
    if certification.status != Certification.Status.ACTIVE:
        raise DomainError("Only an active certification is renewed.", code="not_active")
    gaps = _training_gaps(certification.person, certification.qualification, today)
    if gaps:
        raise DomainError("The certification cannot be renewed yet: " + " ".join(gaps),
                          code="training_incomplete", fields={"qualification": gaps})

    def extend(locked: Certification) -> None:
        start = max(locked.valid_until + dt.timedelta(days=1), today)
        locked.valid_until = valid_until_for(locked.qualification, start)
        locked.expiry_warning_sent_on = None

    return _change(actor=actor, password=password, certification=certification,
                   target=Certification.Status.ACTIVE,
                   action=CertificationDecision.Action.RENEW, reason=reason, request=request,
                   before=extend)
