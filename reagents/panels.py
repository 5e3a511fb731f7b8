"""Home-page panels: QA sees lots waiting for a decision and lots about to expire."""

from __future__ import annotations

from reagents import selectors
from reagents.models import LotStatus, ReagentLot
from reagents.services.status import expiry_warning_days


def qa_lots_panel(request):
    user = request.user
    if not user.has_perm("reagents.release_lot"):
        return None
    days = expiry_warning_days()
    waiting = (ReagentLot.objects.visible_to(user).filter(status=LotStatus.QUARANTINE)
               .select_related("material", "site").order_by("received_at", "pk"))
    expiring = selectors.lots_for(user, expiring_days=days)
    return "reagents/_qa_panel.html", {
        "waiting": waiting[:8], "waiting_count": waiting.count(),
        "expiring": expiring[:8], "expiring_count": expiring.count(), "days": days,
    }
