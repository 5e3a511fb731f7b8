"""QA's configuration of a site: response deadlines per tier and the escalation ladder.
Every change carries a reason and lands in the audit trail."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from deviations.models import DeadlinePolicy, EscalationLevel, Tier
from deviations.models.config import DeadlineUnit
from mes import audit
from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired
from mes.models import Site, User
from mes.roles import ROLES


def _check(actor: User, site: Site, reason: str) -> str:
    if not actor.has_perm("deviations.configure_escalation"):
        raise PermissionRefused(f"{actor.full_name} is not authorised to configure deadlines "
                                "and escalation.")
    if not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {site}.")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    return reason


@transaction.atomic
def set_deadline_policy(*, actor: User, site: Site, tier: str, acknowledge_amount: int,
                        acknowledge_unit: str, disposition_amount: int | None = None,
                        disposition_unit: str = "", reason: str) -> DeadlinePolicy:
    """Set how soon deviations of one tier must be acknowledged (and disposed) at a site.
    Applies to deviations raised or reclassified from now on."""
    reason = _check(actor, site, reason)
    if tier not in Tier.values:
        raise DomainError("Unknown tier.", code="invalid", fields={"tier": ["Not valid."]})
    if not acknowledge_amount or acknowledge_amount < 1 or \
            acknowledge_unit not in DeadlineUnit.values:
        raise DomainError("The acknowledgement deadline needs a positive amount and a unit.",
                          code="invalid", fields={"acknowledge_amount": ["Positive."]})
    if disposition_amount and disposition_unit not in DeadlineUnit.values:
        raise DomainError("The disposition deadline needs a unit.", code="invalid",
                          fields={"disposition_unit": ["Required."]})
    policy = DeadlinePolicy.objects.select_for_update().filter(site=site, tier=tier).first()
    policy = policy or DeadlinePolicy(site=site, tier=tier)
    policy.acknowledge_amount = acknowledge_amount
    policy.acknowledge_unit = acknowledge_unit
    policy.disposition_amount = disposition_amount or None
    policy.disposition_unit = disposition_unit if disposition_amount else ""
    audit.stamp(policy, user=actor, reason=reason)
    policy.save()
    return policy


@transaction.atomic
def add_escalation_level(*, actor: User, site: Site, name: str, person: User | None = None,
                         role: str = "", respond_within_minutes: int = 30,
                         reason: str) -> EscalationLevel:
    """Add a rung at the top of the site's ladder: a named person or everyone with a role."""
    reason = _check(actor, site, reason)
    name = (name or "").strip()
    if not name:
        raise DomainError("Name the level (e.g. QA lead).", code="invalid",
                          fields={"name": ["Required."]})
    if (person is None) == (not role):
        raise DomainError("Choose either a person or a role for the level.", code="invalid",
                          fields={"person": ["Person or role."]})
    if role and role not in ROLES:
        raise DomainError("Unknown role.", code="invalid", fields={"role": ["Not valid."]})
    if role and not Group.objects.filter(name=role).exists():
        raise DomainError("That role does not exist yet.", code="invalid")
    if person is not None and not (person.is_active and person.has_site(site)):
        raise DomainError(f"{person.full_name} is not an active person at {site.code}.",
                          code="invalid", fields={"person": ["Not at this site."]})
    if not respond_within_minutes or respond_within_minutes < 1:
        raise DomainError("Give the level at least one minute to respond.", code="invalid",
                          fields={"respond_within_minutes": ["At least 1."]})
    top = (EscalationLevel.objects.select_for_update().filter(site=site, is_active=True)
           .order_by("-position").first())
    level = EscalationLevel(site=site, position=(top.position + 1) if top else 1, name=name,
                            person=person, role=role or "",
                            respond_within_minutes=respond_within_minutes)
    audit.stamp(level, user=actor, reason=reason)
    level.save()
    return level


@transaction.atomic
def retire_escalation_level(*, actor: User, level: EscalationLevel,
                            reason: str) -> EscalationLevel:
    """Take a rung off the ladder (kept for the record); the levels above move down."""
    reason = _check(actor, level.site, reason)
    level = EscalationLevel.objects.select_for_update().get(pk=level.pk)
    if not level.is_active:
        raise DomainError("This level is already retired.", code="no_change", status=409)
    level.is_active = False
    audit.stamp(level, user=actor, reason=reason)
    level.save()
    above = list(EscalationLevel.objects.select_for_update()
                 .filter(site=level.site, is_active=True, position__gt=level.position)
                 .order_by("position"))
    for rung in above:
        rung.position -= 1
        audit.stamp(rung, user=actor, reason=f"Level {level.position} retired: {reason}")
        rung.save()
    return level
