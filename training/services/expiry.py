"""Expiry of certifications, run daily by Celery beat (``training.tasks``).

A certification whose last valid day has passed (in its site's time zone) is marked expired
by the system user, with an unsigned *expired* decision; the person is told. A certification
that ends within ``settings.TRAINING_EXPIRY_WARNING_DAYS`` (default 30) days warns the person
and the Supervisors of its site once, in the app and by e-mail. Running either twice in a
day changes nothing more.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from mes import audit
from mes.models import User
from mes.services.notifications import notify
from training.models import Certification, CertificationDecision
from training.services.gate import local_date


def warning_days() -> int:
    return int(getattr(settings, "TRAINING_EXPIRY_WARNING_DAYS", 30))


def _person_link(certification: Certification) -> str:
    return reverse("training:person", args=[certification.person_id])


@transaction.atomic
def expire_certifications(*, now: dt.datetime | None = None) -> list[Certification]:
    """Mark every certification past its last valid day as expired."""
    now = now or timezone.now()
    system = audit.system_user()
    # The widest date any time zone can have reached; each site's own date decides below.
    latest_possible = (now + dt.timedelta(days=1)).date()
    candidates = (Certification.objects.select_for_update(of=("self",))
                  .select_related("site", "person", "qualification")
                  .current().filter(valid_until__lt=latest_possible).order_by("pk"))
    expired = []
    for cert in candidates:
        if cert.valid_until >= local_date(cert.site, now):
            continue
        reason = f"Validity ended on {cert.valid_until.isoformat()}"
        cert.status = Certification.Status.EXPIRED
        audit.stamp(cert, user=system, reason=reason)
        cert.save()
        decision = CertificationDecision(certification=cert, site=cert.site,
                                         action=CertificationDecision.Action.EXPIRE,
                                         reason=reason, decided_by=system)
        audit.stamp(decision, user=system, reason=reason)
        decision.save()
        notify(recipients=[cert.person],
               subject=f"Your certification {cert.qualification.code} at {cert.site.code} "
                       "has expired",
               body=f"{cert.qualification.name}: valid until {cert.valid_until.isoformat()}. "
                    "You may not perform work that needs it until a Trainer certifies you "
                    "again.",
               link=_person_link(cert))
        expired.append(cert)
    return expired


def _supervisors(site) -> list[User]:
    group = Group.objects.filter(name="Supervisor").first()
    if group is None:
        return []
    return list(User.objects.filter(
        groups=group, is_active=True,
        siteuserobjectpermission__content_object=site,
        siteuserobjectpermission__permission__codename="view_site").distinct())


@transaction.atomic
def warn_of_expiry(*, now: dt.datetime | None = None, days: int | None = None
                   ) -> list[Certification]:
    """Warn once for each active certification that ends within the warning window."""
    now = now or timezone.now()
    days = warning_days() if days is None else days
    system = audit.system_user()
    horizon = (now + dt.timedelta(days=days + 1)).date()
    candidates = (Certification.objects.select_for_update(of=("self",))
                  .select_related("site", "person", "qualification")
                  .filter(status=Certification.Status.ACTIVE, expiry_warning_sent_on__isnull=True,
                          valid_until__lte=horizon).order_by("pk"))
    supervisors: dict[int, list[User]] = {}
    warned = []
    for cert in candidates:
        today = local_date(cert.site, now)
        if not today <= cert.valid_until <= today + dt.timedelta(days=days):
            continue
        if cert.site_id not in supervisors:
            supervisors[cert.site_id] = _supervisors(cert.site)
        left = (cert.valid_until - today).days
        notify(recipients=[cert.person, *supervisors[cert.site_id]],
               subject=f"Certification {cert.qualification.code} of {cert.person.full_name} "
                       f"expires in {left} day{'s' if left != 1 else ''}",
               body=f"{cert.qualification.name} at {cert.site.code} is valid until "
                    f"{cert.valid_until.isoformat()}. Plan the retraining and renewal.",
               link=_person_link(cert))
        cert.expiry_warning_sent_on = today
        audit.stamp(cert, user=system, reason=f"Expiry warning sent ({left} days left)")
        cert.save()
        warned.append(cert)
    return warned
