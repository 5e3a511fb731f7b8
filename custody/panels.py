"""The custody panel on the home page: patients in the journey at the person's sites."""

from __future__ import annotations

from custody import selectors


def custody_panel(request):
    user = request.user
    if not user.has_perm("custody.view_patient"):
        return None
    return "custody/_home_panel.html", {
        "stages": selectors.journey_counts(user),
        "recent_refusals": selectors.recent_mismatches(user)[:5],
    }
