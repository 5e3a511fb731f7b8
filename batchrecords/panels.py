"""Home-page panel: master record versions waiting for QA (first) and drafts being written.
It is also the way in to the master records list: every role's top bar is full (seven
items), so the list is not a top-level item."""

from __future__ import annotations

from batchrecords import selectors
from batchrecords.models import MasterRecordVersion

Status = MasterRecordVersion.Status


def master_records_panel(request):
    user = request.user
    if not (
        user.has_perm("batchrecords.approve_masterrecordversion")
        or user.has_perm("batchrecords.add_masterrecordversion")
    ):
        return None
    open_versions = list(
        selectors.versions(user)
        .filter(status__in=[Status.IN_REVIEW, Status.DRAFT])
        .order_by("-status", "created_at", "pk")[:10]
    )
    return "batchrecords/_home_panel.html", {
        "in_review": [v for v in open_versions if v.status == Status.IN_REVIEW],
        "drafts": [v for v in open_versions if v.status == Status.DRAFT],
    }
