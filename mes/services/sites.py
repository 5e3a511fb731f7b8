"""Sites are configuration an Administrator keeps; every change after creation has a reason."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from mes import audit
from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired
from mes.models import Site, User


def site_today(site: Site, at=None):
    """Today's date (or ``at``'s date) where the site is: dates a person types at a site
    (birth, planned collection, training) are checked against that, not against UTC."""
    from django.utils import timezone

    return timezone.localtime(at or timezone.now(), site.zone).date()


EDITABLE = ("name", "kind", "time_zone", "facility_identification_number", "is_active")


def _validated(site: Site) -> Site:
    try:
        site.full_clean()
    except ValidationError as exc:
        raise DomainError("The site details are not valid.", code="invalid",
                          fields=exc.message_dict) from exc
    return site


@transaction.atomic
def create_site(*, actor: User, code: str, **fields) -> Site:
    """Create a site; its creator is given access to it, as the site's first administrator."""
    from guardian.shortcuts import assign_perm

    if not actor.has_perm("mes.add_site"):
        raise PermissionRefused(f"{actor.full_name} is not authorised to create sites.")
    site = _validated(Site(code=(code or "").strip().upper(),
                           **{k: v for k, v in fields.items() if k in EDITABLE}))
    audit.stamp(site, user=actor, reason="Site created")
    site.save()
    with audit.acting_as(actor):
        assign_perm("mes.view_site", actor, site)
    actor._site_ids = None  # the object's cached site list (User.site_ids) is read again
    return site


@transaction.atomic
def update_site(*, actor: User, site: Site, reason: str, **fields) -> Site:
    if not actor.has_perm("mes.change_site") or not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} is not authorised to change {site}.")
    if not (reason or "").strip():
        raise ReasonForChangeRequired("A reason is required to change a site.",
                                      fields={"reason": ["Required."]})
    site = Site.objects.select_for_update().get(pk=site.pk)
    changed = [k for k in EDITABLE if k in fields and getattr(site, k) != fields[k]]
    if not changed:
        raise DomainError("Nothing was changed.", code="no_change")
    for key in changed:
        setattr(site, key, fields[key])
    _validated(site)
    audit.stamp(site, user=actor, reason=reason.strip())
    site.save(update_fields=changed)
    return site
