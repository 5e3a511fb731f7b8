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


WORK_SHOWN = 12


def batches_to_work(request):
    """The batches booked for today at the person's sites (at a registered terminal: in its
    suite), each with the step due now: the operator's "what to do now" (UI.md). Three
    queries, whatever the number of batches or steps."""
    from django.utils import timezone

    from batchrecords.models import EXECUTABLE_BATCH, Batch, StepRun, StepStatus
    from scheduling.selectors import terminal_for_request

    user = request.user
    if not user.has_perm("batchrecords.perform_step"):
        return None
    today = timezone.localdate()
    batches = (Batch.objects.visible_to(user)
               .filter(status__in=EXECUTABLE_BATCH, booking__start_date__lte=today,
                       booking__end_date__gte=today)
               .select_related("patient", "booking__suite")
               .order_by("booking__suite__code", "opened_at", "pk"))
    terminal = terminal_for_request(request)
    if terminal is not None:
        batches = batches.filter(booking__suite_id=terminal.suite_id)
    shown = list(batches[:WORK_SHOWN + 1])
    due = {}
    for run in (StepRun.objects.filter(batch__in=shown[:WORK_SHOWN],
                                       status__in=(StepStatus.PENDING, StepStatus.PERFORMED))
                .select_related("step").order_by("batch_id", "sequence")):
        due.setdefault(run.batch_id, run)
    rows = [{"batch": batch, "due": due.get(batch.pk)} for batch in shown[:WORK_SHOWN]]
    return "batchrecords/_work_panel.html", {"rows": rows, "more": len(shown) > WORK_SHOWN,
                                             "terminal": terminal}
