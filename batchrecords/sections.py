"""The batches section of a patient's page and chain-of-custody report (registered with
custody's ``sections`` in ``BatchrecordsConfig.ready``): every batch made for the patient,
the later ones linked to the earlier with their reason, under the same chain of identity."""

from __future__ import annotations

from batchrecords.models import Batch, BatchStatus
from batchrecords.services.batches import CHANGE, FINISHED_BATCH, OPEN

VIEW = "batchrecords.view_batch"


def patient_batches(patient, user) -> tuple[str, dict] | None:
    """One query, however many batches the patient has."""
    if not user.has_perm(VIEW):
        return None
    batches = list(
        Batch.objects.visible_to(user).filter(patient=patient)
        .select_related("version", "previous", "opened_by")
        .order_by("opened_at", "pk")
    )
    latest = batches[-1] if batches else None
    may_open = user.has_perm(OPEN) and user.has_site(patient.site)
    return "batchrecords/_patient_batches.html", {
        "batches": batches,
        "may_open_first": may_open and latest is None,
        "may_follow": may_open and latest is not None and latest.status in FINISHED_BATCH,
        "latest": latest,
        "cancellable": latest if (
            latest is not None and user.has_perm(CHANGE)
            and latest.status in (BatchStatus.PLANNED, BatchStatus.IN_PROGRESS)) else None,
    }
