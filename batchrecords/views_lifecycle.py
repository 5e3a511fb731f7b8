"""A batch's lifecycle by hand, for a Supervisor or QA: cancel a batch (with a reason), open
the patient's batch when the receipt did not, and open a remanufacture or second-apheresis
batch after a finished one. Each page says first whether the action is possible, then asks
for what it needs; a POST is followed by a redirect to the batch (UI.md)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render

from batchrecords.forms_lifecycle import CancelBatchForm, FollowUpBatchForm, OpenBatchForm
from batchrecords.models import Batch, BatchStatus
from batchrecords.services import batches as lifecycle
from custody import selectors as custody
from mes.errors import DomainError

TEMPLATE = "batchrecords/batch_lifecycle_form.html"


def _batch(request, pk: int) -> Batch:
    return get_object_or_404(
        Batch.objects.visible_to(request.user).select_related(
            "patient", "version__master__product", "site", "previous"), pk=pk)


def _page(request, form, *, status: int = 200, **context):
    return render(request, TEMPLATE, {"form": form, **context},
                  status=400 if form.errors and status == 200 else status)


def _refused(form, error: DomainError) -> int:
    """The service's refusal on the form: its message, and each field's own complaint."""
    form.add_error(None, error.message)
    for field, complaints in error.fields.items():
        if field in form.fields and field not in form.errors:
            for complaint in complaints:
                form.add_error(field, complaint)
    return error.status


@login_required
@permission_required(lifecycle.CHANGE, raise_exception=True)
def cancel(request, pk: int):
    batch = _batch(request, pk)
    title = f"Cancel batch {batch.number}"
    blocked = None
    if batch.status not in (BatchStatus.PLANNED, BatchStatus.IN_PROGRESS):
        blocked = (f"Batch {batch.number} is {batch.get_status_display().lower()}: only a "
                   "planned batch or one in progress is cancelled.")
    form = CancelBatchForm(request.POST or None)
    status = 200
    if request.method == "POST" and blocked is None and form.is_valid():
        try:
            lifecycle.cancel_batch(actor=request.user, batch=batch,
                                   reason=form.cleaned_data["reason"])
        except DomainError as error:
            status = _refused(form, error)
        else:
            messages.success(request, f"Batch {batch.number} is cancelled. Its record stays.")
            return redirect("batchrecords:batch-detail", batch.pk)
    return _page(request, form, status=status, title=title, batch=batch, patient=batch.patient,
                 blocked=blocked, action="Cancel the batch", danger=True,
                 effect="The batch is cancelled: no step is performed on it any more. Its "
                        "record, with everything done so far, stays.")


@login_required
@permission_required(lifecycle.OPEN, raise_exception=True)
def follow_up(request, pk: int):
    """``pk`` is the batch the new one follows (the patient's latest)."""
    previous = _batch(request, pk)
    patient = previous.patient
    title = f"Open a later batch for {patient.coi}"
    latest = patient.batches.order_by("-opened_at", "-pk").first()
    blocked = None
    if latest is not None and latest.pk != previous.pk:
        blocked = f"A later batch follows the patient's latest batch, {latest.number}."
    elif previous.status not in lifecycle.FINISHED_BATCH:
        blocked = (f"Batch {previous.number} is {previous.get_status_display().lower()}: it "
                   "is released, rejected or cancelled before another batch is opened.")
    form = FollowUpBatchForm(request.POST or None)
    status = 200
    if request.method == "POST" and blocked is None and form.is_valid():
        try:
            batch = lifecycle.open_batch(
                actor=request.user, patient=patient, origin=form.cleaned_data["origin"],
                previous=previous, reason=form.cleaned_data["reason"])
        except DomainError as error:
            status = _refused(form, error)
        else:
            messages.success(request, f"Batch {batch.number} is opened; it follows "
                                      f"{previous.number}.")
            return redirect("batchrecords:batch-detail", batch.pk)
    return _page(request, form, status=status, title=title, batch=previous, patient=patient,
                 blocked=blocked, action="Open the batch",
                 effect=f"A new batch of {patient.coi} is opened from the effective master "
                        f"record, linked to {previous.number} with your reason.")


@login_required
@permission_required(lifecycle.OPEN, raise_exception=True)
def open_for_patient(request, pk: int):
    """The patient's first batch, when the receipt of the material did not open it."""
    patient = get_object_or_404(
        custody.patients_for(request.user).filter(site_id__in=request.user.site_ids()), pk=pk)
    title = f"Open the batch of {patient.coi}"
    blocked, effect = None, ""
    existing = patient.batches.order_by("-opened_at", "-pk").first()
    if existing is not None:
        blocked = f"{patient.coi} already has batch {existing.number}."
    else:
        try:
            version = lifecycle.effective_version(patient)
        except DomainError as error:
            blocked = error.message
        else:
            effect = (f"The batch is opened from {version.master.product.code} master record "
                      f"v{version.number}, which stays pinned to it.")
    form = OpenBatchForm(request.POST or None)
    status = 200
    if request.method == "POST" and blocked is None and form.is_valid():
        try:
            batch = lifecycle.open_batch(actor=request.user, patient=patient,
                                         reason=form.cleaned_data["reason"])
        except DomainError as error:
            status = _refused(form, error)
        else:
            messages.success(request, f"Batch {batch.number} is opened.")
            return redirect("batchrecords:batch-detail", batch.pk)
    return _page(request, form, status=status, title=title, batch=existing, patient=patient,
                 blocked=blocked, action="Open the batch", effect=effect)
