"""The custody panels on the home page: the handoffs waiting at the person's sites (what an
operator does now), and the patients in the journey."""

from __future__ import annotations

from custody import selectors
from custody.models.custody import EventKind
from custody.next_handoff import expected_next, site_of

WAITING_SHOWN = 12


def custody_panel(request):
    user = request.user
    if not user.has_perm("custody.view_patient"):
        return None
    return "custody/_home_panel.html", {
        "stages": selectors.journey_counts(user),
        "recent_refusals": selectors.recent_mismatches(user)[:5],
    }


def work_waiting(request):
    """The handoffs the chain expects next at the person's sites, the longest waiting first:
    the operator's "what to do now" (UI.md). Three queries, whatever the number of patients."""
    user = request.user
    if not user.has_perm("custody.add_custodyevent"):
        return None
    mine = {site.pk for site in user.sites()}
    rows = []
    for patient, last in selectors.active_patients_with_last_event(user):
        kinds = expected_next(patient, last)
        if not kinds:
            continue
        where = site_of(patient, kinds[0], last)
        if where.pk not in mine:
            continue
        rows.append({"patient": patient, "kind": EventKind(kinds[0]).label, "where": where,
                     "since": last.occurred_at if last else patient.order.ordered_at})
    rows.sort(key=lambda row: row["since"])
    return "custody/_work_panel.html", {"rows": rows[:WAITING_SHOWN],
                                        "more": len(rows) > WAITING_SHOWN}
