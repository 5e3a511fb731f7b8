"""The operator terminal at the suite (UI.md, "The operator terminal"): what to do now on a
batch, one step per screen, and the full-screen stop.

* ``terminal``: a batch's work at this terminal. A browser that is not a registered terminal
  of the batch's suite is told so and what to do; an open stop (a wrong patient's label)
  blocks everything with the red stop screen until a Supervisor clears it. Otherwise the step
  due now opens at once, or the steps to pick from are listed (a parallel group, a step
  awaiting a second person's verification).
* ``terminal_step``: one step: the scan field first, the instructions, the data fields, the
  materials and a timer; or, once performed, what was entered and the verification.
* ``terminal_scan``: each barcode checked at once (htmx) and shown as a chip; an accepted scan
  fills its slot in the step's form. A wrong patient's label stops the batch.

The signed actions (perform, verify, N/A, correction, clearing a stop) are in
``views_terminal_actions``; every page here reads a fixed number of queries, however many
steps the batch has.
"""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from batchrecords.forms_terminal import (
    CommentForm,
    CorrectionForm,
    NotApplicableForm,
    ScanForm,
    StepForm,
    VerifyForm,
    lot_name,
)
from batchrecords.models import Batch, BatchStop, DataField, StepRun, StepScan, StepStatus
from batchrecords.services import checks
from batchrecords.services.execution import awaiting_signatures_again
from batchrecords.services.scanning import check_scan, find_lot
from custody import din as isbt
from custody.models import Patient
from mes.errors import DomainError
from mes.identifiers import number_text, when
from mes.middleware import LAST_ACTIVITY
from scheduling.models import Equipment
from scheduling.selectors import terminal_for_request

VIEW = "batchrecords.view_batch"
# Scan refusals that are safety refusals (UI.md, "Alarms block"): a lot that must not be used
# or equipment that must not be used; they raise the full-screen alarm the operator
# acknowledges. Any other refused scan (an unknown barcode, another material) is told at the
# scan field only.
SAFETY_REFUSALS = {"lot_expired", "lot_quarantined", "lot_rejected", "lot_on_hold",
                   "lot_not_released", "equipment_not_usable"}


def batches_for(user):
    return Batch.objects.visible_to(user).select_related(
        "patient", "site", "booking__suite", "version__master__product")


def load(request, pk: int, run_pk: int | None = None) -> tuple[Batch, StepRun | None]:
    """The batch (a batch of a site the person cannot see is a 404) and one of its steps."""
    batch = get_object_or_404(batches_for(request.user), pk=pk)
    if run_pk is None:
        return batch, None
    run = get_object_or_404(
        StepRun.objects.select_related("step__operation", "performed_by", "verified_by"),
        batch=batch, pk=run_pk)
    run.batch = batch
    return batch, run


def terminal_url(batch: Batch) -> str:
    return reverse("batchrecords:terminal", args=[batch.pk])


def step_url(run: StepRun) -> str:
    return reverse("batchrecords:terminal-step", args=[run.batch_id, run.pk])


def refusal_of(check, *args, **kwargs) -> DomainError | None:
    """Run a check that raises, for a page: its refusal, or None."""
    try:
        check(*args, **kwargs)
    except DomainError as error:
        return error
    return None


def open_stop(batch: Batch) -> BatchStop | None:
    return (BatchStop.objects.filter(batch=batch, cleared_at__isnull=True)
            .select_related("exception__actor", "exception__run__step",
                            "exception__deviation").first())


def station(request, batch: Batch, run: StepRun | None = None) -> dict:
    """The persistent header: the patient's COI, the batch, the step, the suite, the person
    and the idle lock (the template shows the countdown in its last two minutes)."""
    return {
        "batch": batch, "run": run, "step": run.step if run else None,
        "suite": batch.booking.suite if batch.booking_id else None,
        "terminal": terminal_for_request(request),
        "idle_seconds": settings.SESSION_IDLE_MINUTES * 60, "idle_left": idle_left(request),
    }


def idle_left(request) -> int:
    """Seconds until the idle lock as the server counts them: its clock of the last activity
    is written at most once a minute, so it can be earlier than this request."""
    limit = settings.SESSION_IDLE_MINUTES * 60
    last = request.session.get(LAST_ACTIVITY) if hasattr(request, "session") else None
    if last is None:
        return limit
    return max(0, min(limit, int(limit - (time.time() - last))))


def blocked(request, batch: Batch, context: dict):
    """The screens that replace any other: the stop, or a browser that is not a terminal of
    this batch's suite (nothing can be signed from it)."""
    stop = open_stop(batch)
    if stop is not None:
        return render(request, "batchrecords/terminal_stop.html", {**context, "stop": stop})
    terminal = context["terminal"]
    suite = context["suite"] or (terminal.suite if terminal else None)
    problem = refusal_of(checks.check_terminal, terminal, suite) if suite else DomainError(
        "This device is not a registered terminal: nothing can be signed from it. A "
        "Supervisor registers it to the suite of this batch.", code="terminal_not_registered")
    if problem is not None:
        return render(request, "batchrecords/terminal_unregistered.html",
                      {**context, "problem": problem}, status=403)
    return None


def due_now(batch: Batch) -> tuple[list[StepRun], list[StepRun]]:
    """The pending steps of the earliest stage that has any (a parallel group is one stage,
    its steps in any order), and the steps performed that wait for a second person."""
    pending = (StepRun.objects.filter(batch=batch, status=StepStatus.PENDING)
               .select_related("step__operation").order_by("sequence"))
    first = pending.first()
    current = list(pending.filter(stage=first.stage)) if first else []
    awaiting = list(StepRun.objects.filter(batch=batch, status=StepStatus.PERFORMED)
                    .select_related("step__operation", "performed_by").order_by("sequence"))
    return current, awaiting


@login_required
@permission_required(VIEW, raise_exception=True)
def terminal(request, pk: int):
    batch, _ = load(request, pk)
    context = station(request, batch)
    screen = blocked(request, batch, context)
    if screen is not None:
        return screen
    current, awaiting = due_now(batch) if batch.is_executable else ([], [])
    if len(current) == 1 and not awaiting:
        return redirect(step_url(current[0]))
    return render(request, "batchrecords/terminal.html",
                  {**context, "current": current, "awaiting": awaiting})


def shown_value(value, batch: Batch) -> str:
    """A value as people read it: a moment in the site's zone (``2026-11-30 14:05 CET``)."""
    if value.field.kind == DataField.Kind.DATETIME:
        try:
            return when(dt.datetime.fromisoformat(value.value), batch.site)
        except ValueError:
            return value.value
    return value.value


def entries(run: StepRun) -> dict:
    """What the step asks for and what was entered at it (a correction next to the value it
    replaced), in a fixed number of queries."""
    step = run.step
    fields = list(step.fields.order_by("position"))
    values = list(run.values.select_related("field", "entered_by").order_by("pk"))
    for value in values:
        value.shown = shown_value(value, run.batch)
    corrected = {v.corrects_id: v for v in values if v.corrects_id}
    return {
        "fields": fields,
        "materials": list(step.materials.order_by("position")),
        "values": [v for v in values if v.pk not in corrected],
        "replaced": corrected,
        "originals": [v for v in values if v.pk in corrected],
        "scans": list(run.scans.select_related("lot", "equipment", "material")
                      .order_by("pk")),
    }


def step_page(request, batch: Batch, run: StepRun, *, form=None, side_form=None, chip=None,
              error: DomainError | None = None, status: int = 200):
    """The step's screen (also re-shown with a refusal's errors)."""
    context = station(request, batch, run)
    screen = blocked(request, batch, context)
    if screen is not None:
        return screen
    user = request.user
    found = entries(run)
    resigning = run.status == StepStatus.PENDING and awaiting_signatures_again(run)
    turn = checks.step_turn(run) if run.status == StepStatus.PENDING and not resigning else None
    if run.status == StepStatus.PENDING and form is None:
        form = StepForm(run=run, fields=found["fields"], materials=found["materials"])
    station_problem = None
    if run.status in (StepStatus.PENDING, StepStatus.PERFORMED):
        station_problem = (
            refusal_of(checks.check_executable, batch) if not batch.is_executable
            else refusal_of(checks.check_station, user, run, context["terminal"],
                            timezone.now()))
    verify_problem = None
    if run.status == StepStatus.PERFORMED:
        verify_problem = (
            DomainError(f"{user.full_name} performed this step: a second person verifies it.",
                        code="verifier_is_performer") if user.pk == run.performed_by_id
            else refusal_of(checks.require_permission, user, checks.VERIFY,
                            "verify batch steps") or station_problem)
    side = {
        "na_form": (side_form if isinstance(side_form, NotApplicableForm)
                    else NotApplicableForm(initial={"revision": run.revision})),
        "verify_form": (side_form if isinstance(side_form, VerifyForm)
                        else VerifyForm(initial={"revision": run.revision})),
        "comment_form": (side_form if isinstance(side_form, CommentForm) else CommentForm()),
    }
    return render(request, "batchrecords/terminal_step.html", {
        **context, **found, **side, "form": form, "scan_form": ScanForm(), "chip": chip,
        "turn": turn, "resigning": resigning, "station_problem": station_problem,
        "verify_problem": verify_problem,
        "error_form": side_form if side_form is not None and side_form.errors else form,
        "stale": error is not None and error.code == "stale_step",
        "can_correct": run.status in (StepStatus.PERFORMED, StepStatus.DONE) and any(
            f.kind != "calculated" for f in found["fields"]),
        "pending": run.status == StepStatus.PENDING,
    }, status=status)


@login_required
@permission_required(VIEW, raise_exception=True)
def terminal_step(request, pk: int, run_pk: int):
    batch, run = load(request, pk, run_pk)
    return step_page(request, batch, run)


def _is_patient_label(run: StepRun, text: str) -> bool:
    """A scanner's ISBT 128 label (``=`` first), the COI typed, or a DIN of this patient's
    facility or of a known patient; a lot number that merely looks like a DIN is not one."""
    patient = run.batch.patient
    if text.startswith(isbt.DATA_IDENTIFIER) or text.upper() == patient.coi.upper():
        return True
    try:
        din = isbt.parse(text).din
    except DomainError:
        return False
    return din[:5] == (patient.din or "")[:5] or Patient.objects.filter(din=din).exists()


def scan_kind(run: StepRun, scan: str) -> str:
    """What was scanned, worked out from the scan (UI.md: scan first, nothing to pick): the
    patient's label, a registered piece of equipment, or else (at a step with materials) a
    lot."""
    text = scan.strip()
    if _is_patient_label(run, text):
        return StepScan.Kind.PATIENT_LABEL
    step = run.step
    if step.equipment_type_code and (
            not step.materials.exists()
            or Equipment.objects.filter(site_id=run.batch.site_id, identifier=text).exists()):
        return StepScan.Kind.EQUIPMENT
    return StepScan.Kind.LOT


def slot_for(run: StepRun, check, scan: str) -> tuple[str, str]:
    """The hidden field of the step's form an accepted scan fills, and what the slot shows
    (a lot with the quantity the step takes of it)."""
    if check.kind == StepScan.Kind.PATIENT_LABEL:
        return "label_scan", "Label OK"
    if check.kind == StepScan.Kind.EQUIPMENT:
        return "equipment_scan", check.recognised
    code = find_lot(scan, run.batch.site).material.code
    needed = next((m for m in run.step.materials.all() if m.material_code == code), None)
    shown = f"{check.recognised} · {number_text(needed.quantity)} {needed.unit}" if (
        needed) else check.recognised
    return lot_name(code), shown


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def terminal_scan(request, pk: int, run_pk: int):
    batch, run = load(request, pk, run_pk)
    form = ScanForm(request.POST)
    if not form.is_valid():
        chip = {"ok": False, "message": "Nothing was scanned: scan the barcode again.",
                "code": "invalid_scan"}
        return render(request, "batchrecords/_terminal_chip.html", {"chip": chip, "oob": True},
                      status=400)
    scan = form.cleaned_data["scan"]
    try:
        check = check_scan(actor=request.user, run=run, kind=scan_kind(run, scan), scan=scan,
                           terminal=terminal_for_request(request))
    except DomainError as error:
        chip = {"ok": False, "message": error.message, "code": error.code}
        if request.htmx:
            return render(request, "batchrecords/_terminal_chip.html",
                          {"chip": chip, "oob": True}, status=error.status)
        return step_page(request, batch, run, chip=chip, status=error.status)
    if check.stopped:
        # The batch is stopped: every screen of it shows the stop now.
        if request.htmx:
            response = render(request, "batchrecords/_terminal_chip.html", {"chip": check})
            response["HX-Redirect"] = terminal_url(batch)
            return response
        return redirect(terminal_url(batch))
    slot, shown = slot_for(run, check, scan) if check.ok else ("", "")
    chip = {"ok": check.ok, "message": check.message, "code": check.code, "kind": check.kind,
            "recognised": shown, "scanned": scan, "slot": slot,
            "alarm": not check.ok and check.code in SAFETY_REFUSALS,
            "step": f"{run.step.code} {run.step.title}"}
    if request.htmx:
        return render(request, "batchrecords/_terminal_chip.html", {"chip": chip, "oob": True})
    found = entries(run)
    data = {"revision": run.revision, **({chip["slot"]: scan} if chip["slot"] else {})}
    step_form = StepForm(initial=data, run=run, fields=found["fields"],
                         materials=found["materials"])
    return step_page(request, batch, run, form=step_form, chip=chip)


def correction_form(run: StepRun, data=None) -> CorrectionForm:
    fields = list(run.step.fields.order_by("position"))
    return CorrectionForm(data, initial={"revision": run.revision}, step=run.step,
                          fields=fields)


@login_required
@permission_required(VIEW, raise_exception=True)
def terminal_correct_page(request, pk: int, run_pk: int, form=None, status: int = 200,
                          stale: bool = False):
    """Correct a value of a signed step: pick the value, enter the new one and the reason;
    the signature follows (``views_terminal_actions.correct``)."""
    batch, run = load(request, pk, run_pk)
    context = station(request, batch, run)
    screen = blocked(request, batch, context)
    if screen is not None:
        return screen
    return render(request, "batchrecords/terminal_correct.html", {
        **context, **entries(run), "form": form or correction_form(run), "stale": stale,
    }, status=status)
