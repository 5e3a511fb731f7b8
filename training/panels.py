"""The home page panel: a person's own certifications (judged by the gate, so "retraining
due" shows as such) and what expires soon."""

from __future__ import annotations

from django.utils import timezone

from training import selectors
from training.models import Certification


def my_certifications(request):
    user = request.user
    certifications = list(
        Certification.objects.filter(person=user, site__in=user.sites()).current()
        .select_related("qualification", "site").order_by("valid_until"))
    pending = list(selectors.awaiting_my_verification(user)[:10]) if user.has_perm(
        "training.verify_training") else []
    if not certifications and not pending and not user.has_perm("training.sign_own_training"):
        return None
    cells = selectors.standing_of(user, certifications)
    today = timezone.localdate()
    return "training/_home_panel.html", {
        "rows": [(cert, cells[(cert.site_id, cert.qualification_id)])
                 for cert in certifications],
        "expiring": selectors.expiring_soon(user, on=today),
        "pending": pending,
    }
