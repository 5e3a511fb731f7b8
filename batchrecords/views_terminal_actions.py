"""The terminal's signed actions: perform, verify, N/A, correct a value, clear a stop; and a
comment (not signed).

Each follows the kernel's sign-dialog pattern (UI.md, "Signing"): everything but the password
is checked first and a refusal is shown on the step's screen, at its field and in the error
summary, instead of the dialog; then the dialog asks for the password and the service signs.
A refused password keeps the dialog with its error; any other refusal goes back on the
screen; a wrong patient's label sends the terminal to the stop screen.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from batchrecords.forms_terminal import (
    ClearStopForm,
    CommentForm,
    NotApplicableForm,
    StepForm,
    VerifyForm,
    show_refusal,
)
from batchrecords.models import BatchStop, DataField, StepStatus
from batchrecords.services import checks, corrections, execution, stops
from batchrecords.services.runs import StepRefused, check_revision
from batchrecords.services.values import parse_one
from batchrecords.views_terminal import (
    VIEW,
    batches_for,
    correction_form,
    entries,
    load,
    open_stop,
    refusal_of,
    station,
    step_page,
    step_url,
    terminal_correct_page,
    terminal_url,
)
from mes import identifiers
from mes.errors import DomainError
from mes.forms import SignForm
from mes.models import Meaning
from mes.ui import render_sign_dialog, signed_response
from scheduling.selectors import terminal_for_request

# Refusals of the signature itself: the dialog stays open with its error.
PASSWORD_REFUSALS = {"wrong_password", "account_locked", "signature_refused"}


def _checked(*checks_to_run) -> DomainError | None:
    for check in checks_to_run:
        refusal = refusal_of(check)
        if refusal is not None:
            return refusal
    return None


def _signed(request, *, refusal, dialog: dict, act, on_refused, done_url: str, done: str):
    """The dialog after the checks, then the signature (see the module)."""
    if "password" not in request.POST:
        if refusal is not None:
            return on_refused(refusal)
        return render_sign_dialog(request, sign_form=SignForm(), **dialog)
    try:
        act(request.POST.get("password", ""))
    except DomainError as error:
        if error.code in PASSWORD_REFUSALS:
            return render_sign_dialog(request, sign_form=SignForm(request.POST), error=error,
                                      **dialog)
        return on_refused(error)
    messages.success(request, done)
    return signed_response(request, done_url)


def _on_step(request, batch, run, form=None, side_form=None):
    """A refusal shown on the step's screen (htmx: in place of the screen, the dialog
    closed), or the stop screen when the refusal stopped the batch."""

    def show(error: DomainError):
        if error.code == "label_mismatch" or open_stop(batch) is not None:
            return _to_stop(request, batch)
        target = form if form is not None else side_form
        show_refusal(target, error, field_for=getattr(target, "field_for", None))
        response = step_page(request, batch, run, form=form, side_form=side_form, error=error,
                             status=error.status if error.status < 500 else 400)
        return _in_place(request, response, "#step-card")

    return show


def _in_place(request, response, target: str):
    if request.htmx:
        response["HX-Retarget"] = target
        response["HX-Reswap"] = "outerHTML"
        response["HX-Reselect"] = target
    return response


def _to_stop(request, batch):
    return signed_response(request, terminal_url(batch))


def _summary(batch, run, *extra) -> list[tuple[str, str]]:
    return [("Batch", identifiers.batch_number(batch.number)),
            ("Patient (COI)", identifiers.coi(batch.patient)),
            ("Step", f"{run.step.code} {run.step.title}"), *extra]


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def perform(request, pk: int, run_pk: int):
    batch, run = load(request, pk, run_pk)
    found = entries(run)
    form = StepForm(request.POST, run=run, fields=found["fields"],
                    materials=found["materials"])
    entered = form.entered()
    terminal = terminal_for_request(request)
    if execution.awaiting_signatures_again(run):
        # signed again as it stands: its values and scans were recorded before
        entered = {**entered, "values": {}, "lots": [], "label_scan": "",
                   "equipment_scan": ""}
    refusal = None
    if "password" not in request.POST:
        # everything the service will judge, asked before the password (UI.md: Signing)
        refusal = execution.perform_refusal(actor=request.user, run=run, terminal=terminal,
                                            **entered)
    calculated = [f.label for f in found["fields"] if f.kind == DataField.Kind.CALCULATED]
    dialog = {
        "title": f"Sign step {run.step.code} performed",
        "summary": _summary(batch, run, *(
            [("Calculated on signing", ", ".join(calculated))] if calculated else [])),
        "meaning": Meaning.PERFORMED, "form": form,
        "action": reverse("batchrecords:terminal-perform", args=[batch.pk, run.pk]),
    }
    return _signed(
        request, refusal=refusal, dialog=dialog, on_refused=_on_step(request, batch, run, form),
        act=lambda password: execution.perform_step(
            actor=request.user, password=password, run=run, terminal=terminal,
            request=request, **entered),
        done_url=terminal_url(batch), done=f"Step {run.step.code} performed and signed.")


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def verify(request, pk: int, run_pk: int):
    batch, run = load(request, pk, run_pk)
    form = VerifyForm(request.POST)
    revision = request.POST.get("revision")
    terminal = terminal_for_request(request)
    user = request.user

    def awaiting():
        if run.status != StepStatus.PERFORMED:
            raise StepRefused(f"Step {run.step.code} is {run.get_status_display().lower()}: "
                              "there is nothing to verify.", code="not_awaiting_verification")

    def independent():
        if user.pk == run.performed_by_id:
            raise StepRefused(f"{user.full_name} performed step {run.step.code}: a second "
                              "person verifies it.", code="verifier_is_performer", status=403)

    refusal = _checked(
        lambda: checks.require_permission(user, checks.VERIFY, "verify batch steps"),
        lambda: check_revision(run, revision),
        awaiting, lambda: checks.check_executable(batch), independent,
        lambda: checks.check_station(user, run, terminal, timezone.now()),
    ) if "password" not in request.POST else None
    dialog = {
        "title": f"Verify step {run.step.code}",
        "summary": _summary(batch, run, ("Performed by", run.performed_by.full_name
                                         if run.performed_by_id else "")),
        "meaning": Meaning.VERIFIED, "form": form,
        "action": reverse("batchrecords:terminal-verify", args=[batch.pk, run.pk]),
    }
    return _signed(
        request, refusal=refusal, dialog=dialog,
        on_refused=_on_step(request, batch, run, side_form=form),
        act=lambda password: execution.verify_step(
            actor=user, password=password, run=run, revision=revision, terminal=terminal,
            request=request),
        done_url=terminal_url(batch), done=f"Step {run.step.code} verified and signed.")


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def not_applicable(request, pk: int, run_pk: int):
    batch, run = load(request, pk, run_pk)
    form = NotApplicableForm(request.POST)
    revision, reason = request.POST.get("revision"), request.POST.get("reason", "")
    terminal = terminal_for_request(request)
    user = request.user

    def allowed():
        if not run.step.na_allowed:
            raise StepRefused(f"The master record does not allow step {run.step.code} to be "
                              "skipped: perform it.", code="na_not_allowed")

    refusal = _checked(
        lambda: checks.require_permission(user, checks.PERFORM, "perform batch steps"),
        lambda: stops.clean_text(reason, field="reason", what="A reason"),
        lambda: check_revision(run, revision), lambda: checks.check_pending(run),
        lambda: checks.check_executable(batch), allowed,
        lambda: checks.check_turn(run, timezone.now()),
        lambda: checks.check_station(user, run, terminal, timezone.now()),
    ) if "password" not in request.POST else None
    dialog = {
        "title": f"Sign step {run.step.code} not applicable",
        "summary": _summary(batch, run, ("Reason", reason.strip())),
        "meaning": Meaning.PERFORMED, "form": form,
        "action": reverse("batchrecords:terminal-na", args=[batch.pk, run.pk]),
    }
    return _signed(
        request, refusal=refusal, dialog=dialog,
        on_refused=_on_step(request, batch, run, side_form=form),
        act=lambda password: execution.mark_not_applicable(
            actor=user, password=password, run=run, revision=revision, terminal=terminal,
            reason=reason, request=request),
        done_url=terminal_url(batch), done=f"Step {run.step.code} signed as not applicable.")


@login_required
@permission_required(VIEW, raise_exception=True)
def correct(request, pk: int, run_pk: int):
    if request.method != "POST":
        return terminal_correct_page(request, pk, run_pk)
    batch, run = load(request, pk, run_pk)
    form = correction_form(run, request.POST)
    data = request.POST
    terminal = terminal_for_request(request)
    user = request.user
    field = run.step.fields.filter(key=data.get("field_key", "")).first()

    def value():
        if field is None or field.kind == DataField.Kind.CALCULATED:
            raise StepRefused("Choose the value to correct.", code="invalid_value",
                              fields={"field_key": ["Choose one."]})
        if not data.get("value", "").strip():
            raise StepRefused(f"Enter the corrected value of {field.label}.",
                              code="missing_value", fields={"value": ["Required."]})
        try:
            parse_one(field, data.get("value", ""), batch=batch, now=timezone.now())
        except ValueError as error:
            raise StepRefused(f"{field.label}: {error}", code="invalid_value",
                              fields={"value": [str(error)]}) from None

    def station_now():
        suite = checks.booked_suite(batch, timezone.now())
        checks.check_terminal(terminal, suite)
        checks.check_operator(user, run, suite, timezone.now())

    def signed_step():
        if run.status not in (StepStatus.PERFORMED, StepStatus.DONE):
            raise StepRefused(f"Step {run.step.code} is {run.get_status_display().lower()}: "
                              "only a signed step's values are corrected.",
                              code="not_performed")

    refusal = _checked(
        lambda: checks.require_permission(user, checks.PERFORM, "correct batch step values"),
        lambda: check_revision(run, data.get("revision")), signed_step, value,
        lambda: stops.clean_text(data.get("reason", ""), field="reason",
                                 what="A reason for the correction"),
        station_now,
    ) if "password" not in data else None
    label = field.label if field else ""
    dialog = {
        "title": f"Sign the correction of {label} at step {run.step.code}",
        "summary": _summary(batch, run, ("Value", label), ("Corrected to", data.get("value", "")),
                            ("Reason", data.get("reason", "").strip())),
        "meaning": Meaning.PERFORMED, "form": form,
        "action": reverse("batchrecords:terminal-correct", args=[batch.pk, run.pk]),
    }

    def on_refused(error: DomainError):
        # The service names the value's field by its key; the form by "value".
        fields = {("value" if k not in form.fields else k): v for k, v in error.fields.items()}
        error.fields = fields
        show_refusal(form, error)
        response = terminal_correct_page(request, pk, run_pk, form=form,
                                         status=error.status if error.status < 500 else 400,
                                         stale=error.code == "stale_step")
        return _in_place(request, response, "#step-card")

    return _signed(
        request, refusal=refusal, dialog=dialog, on_refused=on_refused,
        act=lambda password: corrections.correct_value(
            actor=user, password=password, run=run, revision=data.get("revision"),
            terminal=terminal, field_key=data.get("field_key", ""),
            value=data.get("value", ""), reason=data.get("reason", ""), request=request),
        done_url=step_url(run),
        done=f"{label} corrected; step {run.step.code} is to be signed again.")


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def comment(request, pk: int, run_pk: int):
    batch, run = load(request, pk, run_pk)
    form = CommentForm(request.POST)
    try:
        execution.add_comment(actor=request.user, run=run, text=request.POST.get("text", ""))
    except DomainError as error:
        return _on_step(request, batch, run, side_form=form)(error)
    messages.success(request, f"Comment added to step {run.step.code}.")
    return redirect(step_url(run))


@login_required
@permission_required(checks.SUPERVISE, raise_exception=True)
def clear_stop(request, pk: int):
    """A Supervisor clears the stop of a batch with a reason and their own signature: the
    Supervisor signs in on the terminal (or at their desk) and opens this page."""
    batch = get_object_or_404(batches_for(request.user), pk=pk)
    stop = open_stop(batch)
    if stop is None:
        messages.info(request, f"Batch {batch.number} is not stopped.")
        return redirect(terminal_url(batch))
    form = ClearStopForm(request.POST or None)
    context = {**station(request, batch), "stop": stop, "form": form}
    if request.method != "POST":
        return render(request, "batchrecords/terminal_clear_stop.html", context)
    reason, user = request.POST.get("reason", ""), request.user

    def not_raiser():
        if stop.exception.actor_id == user.pk:
            raise StepRefused("The person whose scan stopped the batch never clears the stop: "
                              "another Supervisor does.", code="supervisor_raised_stop",
                              status=403)

    def on_refused(error: DomainError):
        show_refusal(form, error)
        response = render(request, "batchrecords/terminal_clear_stop.html", context,
                          status=error.status if error.status < 500 else 400)
        return _in_place(request, response, "#step-card")

    refusal = _checked(
        lambda: stops.clean_text(reason, field="reason", what="A reason"), not_raiser,
    ) if "password" not in request.POST else None
    dialog = {
        "title": f"Clear the stop on batch {batch.number}",
        "summary": [("Batch", identifiers.batch_number(batch.number)),
                    ("Stopped", stop.exception.detail),
                    ("Reason", reason.strip())],
        "meaning": Meaning.REVIEWED, "form": form,
        "action": reverse("batchrecords:clear-stop", args=[batch.pk]),
    }
    return _signed(
        request, refusal=refusal, dialog=dialog, on_refused=on_refused,
        act=lambda password: stops.clear_stop(actor=user, password=password,
                                               stop=BatchStop(pk=stop.pk), reason=reason,
                                               request=request),
        done_url=terminal_url(batch), done=f"The stop on batch {batch.number} is cleared.")
