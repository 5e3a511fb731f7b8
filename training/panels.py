"""The home page panel: a person's own certifications (judged by the gate, so "retraining
due" shows as such) and what expires soon."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from training import selectors
from training.models import Certification


def my_certifications(request):
    """Five queries: the person's current certifications, those awaiting their verification
    (a trainer), and the gate's facts (SOP links, effective revisions, their trainings)."""
    user = request.user
    certifications = list(
        Certification.objects.filter(person=user, site_id__in=user.site_ids()).current()
        .select_related("qualification", "site").order_by("valid_until"))
    pending = list(selectors.awaiting_my_verification(user)[:10]) if user.has_perm(
        "training.verify_training") else []
    if not certifications and not pending and not user.has_perm("training.sign_own_training"):
        return None
    cells = selectors.standing_of(user, certifications, current=True)
    today = timezone.localdate()
    warn_until = today + dt.timedelta(days=selectors.warning_days())
    return "training/_home_panel.html", {
        "rows": [(cert, cells[(cert.site_id, cert.qualification_id)])
                 for cert in certifications],
        "expiring": [c for c in certifications if c.status == Certification.Status.ACTIVE
                     and today <= c.valid_until <= warn_until],
        "pending": pending,
    }
