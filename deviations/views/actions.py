"""The deviation's flows. Signed ones follow the kernel's pattern (mes/views/users.py): a
valid form opens the sign dialog; its POST with the password calls the service and signs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from deviations import forms, selectors
from deviations.models import CapaAction, DeviationAttachment
from deviations.services import workflow
from deviations.services.independence import require_independence
from mes.errors import DomainError
from mes.forms import SignForm
from mes.models import Meaning
from mes.ui import render_sign_dialog, signed_response


def _refused(request, deviation, *, title: str, error: DomainError):
    """Say why the action cannot be signed instead of offering the password dialog."""
    template = "deviations/_refused_dialog.html" if request.htmx else \
        "deviations/refused_page.html"
    return render(request, template, {"title": title, "error": error,
                                      "deviation": deviation}, status=error.status)


def _signed_flow(request, deviation, *, form, title: str, meaning: str, summary, action: str,
                 perform, done: str, independent: str | None = None):
    """Form invalid -> the form again (in the dialog); valid -> sign dialog; password ->
    the service; a DomainError shows in the dialog, nothing is written. An ``independent``
    action the raiser may not take is refused before any dialog."""
    if independent:
        try:
            require_independence(request.user, deviation, independent)
        except DomainError as error:
            return _refused(request, deviation, title=title, error=error)
    if not form.is_valid():
        template = "deviations/_form_dialog.html" if request.htmx else \
            "deviations/form_page.html"
        return render(request, template, {"title": title, "form": form, "action": action,
                                          "deviation": deviation}, status=400)
    summary = [("Deviation", str(deviation)), *summary(form.cleaned_data)]
    sign_form = SignForm(request.POST if "password" in request.POST else None)
    dialog = {"title": title, "summary": summary, "meaning": meaning, "form": form,
              "sign_form": sign_form, "action": action}
    if "password" not in request.POST:
        return render_sign_dialog(request, **dialog)
    try:
        perform(form.cleaned_data, request.POST.get("password", ""))
    except DomainError as error:
        return render_sign_dialog(request, **dialog, error=error)
    messages.success(request, done)
    return signed_response(request, reverse("deviations:detail", args=[deviation.pk]))


def _choice_label(form, field: str, value) -> str:
    return str(dict(form.fields[field].choices).get(value, value))


@login_required
@permission_required("deviations.acknowledge_deviation", raise_exception=True)
@require_POST
def acknowledge(request, pk: int):
    deviation = selectors.detail(request.user, pk)
    form = forms.AcknowledgeForm(request.POST)
    return _signed_flow(
        request, deviation, form=form, title="Acknowledge deviation",
        meaning=Meaning.ACKNOWLEDGED,
        summary=lambda d: [("Classification", deviation.get_classification_display()),
                           ("Note", d["note"] or "—")],
        action=reverse("deviations:acknowledge", args=[pk]),
        perform=lambda d, pw: workflow.acknowledge_deviation(
            actor=request.user, password=pw, deviation=deviation, note=d["note"],
            request=request),
        done=f"{deviation.number} acknowledged and signed.")


@login_required
@permission_required("deviations.classify_deviation", raise_exception=True)
@require_POST
def classify(request, pk: int):
    deviation = selectors.detail(request.user, pk)
    form = forms.ClassifyForm(request.POST)
    return _signed_flow(
        request, deviation, form=form, title="Confirm classification", meaning=Meaning.REVIEWED,
        summary=lambda d: [
            ("Classification", _choice_label(form, "classification", d["classification"])),
            ("Patient impact", _choice_label(form, "patient_impact", d["patient_impact"])),
            ("Rationale", d["rationale"])],
        action=reverse("deviations:classify", args=[pk]),
        perform=lambda d, pw: workflow.classify_deviation(
            actor=request.user, password=pw, deviation=deviation, request=request, **d),
        done=f"Classification of {deviation.number} signed.", independent="classify")


@login_required
@permission_required("deviations.dispose_deviation", raise_exception=True)
@require_POST
def dispose(request, pk: int):
    deviation = selectors.detail(request.user, pk)
    form = forms.DispositionForm(request.POST)
    return _signed_flow(
        request, deviation, form=form, title="Disposition of affected material",
        meaning=Meaning.APPROVED,
        summary=lambda d: [("Decision", _choice_label(form, "decision", d["decision"])),
                           ("Rationale", d["rationale"])],
        action=reverse("deviations:dispose", args=[pk]),
        perform=lambda d, pw: workflow.dispose_material(
            actor=request.user, password=pw, deviation=deviation, request=request, **d),
        done=f"Disposition for {deviation.number} signed.", independent="dispose")


@login_required
@permission_required("deviations.investigate_deviation", raise_exception=True)
@require_POST
def investigate(request, pk: int):
    deviation = selectors.detail(request.user, pk)
    form = forms.InvestigationForm(request.POST)
    return _signed_flow(
        request, deviation, form=form, title="Record the investigation",
        meaning=Meaning.AUTHORED,
        summary=lambda d: [("Root cause", _choice_label(form, "root_cause_category",
                                                        d["root_cause_category"])),
                           ("Narrative", d["narrative"])],
        action=reverse("deviations:investigate", args=[pk]),
        perform=lambda d, pw: workflow.record_investigation(
            actor=request.user, password=pw, deviation=deviation, request=request, **d),
        done=f"Investigation of {deviation.number} signed.", independent="investigate")


@login_required
@permission_required("deviations.close_deviation", raise_exception=True)
@require_POST
def close(request, pk: int):
    deviation = selectors.detail(request.user, pk)
    form = forms.CloseForm(request.POST)
    return _signed_flow(
        request, deviation, form=form, title="Close deviation", meaning=Meaning.APPROVED,
        summary=lambda d: [("Summary", d["summary"]),
                           ("Justification", d["justification"] or "—")],
        action=reverse("deviations:close", args=[pk]),
        perform=lambda d, pw: workflow.close_deviation(
            actor=request.user, password=pw, deviation=deviation, request=request, **d),
        done=f"{deviation.number} closed and signed.", independent="close")


@login_required
@permission_required("deviations.view_deviation", raise_exception=True)
@require_POST
def complete_capa(request, pk: int, capa_pk: int):
    deviation = selectors.detail(request.user, pk)
    capa = get_object_or_404(CapaAction.objects.select_related("owner"), pk=capa_pk,
                             deviation=deviation)
    form = forms.CapaCompleteForm(request.POST)
    return _signed_flow(
        request, deviation, form=form, title="CAPA action performed",
        meaning=Meaning.PERFORMED,
        summary=lambda d: [("Action", capa.description), ("What was done", d["note"])],
        action=reverse("deviations:capa-complete", args=[pk, capa_pk]),
        perform=lambda d, pw: workflow.complete_capa(
            actor=request.user, password=pw, capa=capa, note=d["note"], request=request),
        done="CAPA action signed as performed.")


def _plain(request, pk: int, form_class, perform, done: str, form_kwargs=None):
    """An unsigned change: POST, call the service, back to the page with a message."""
    deviation = selectors.detail(request.user, pk)
    form = form_class(request.POST, **(form_kwargs(deviation) if form_kwargs else {}))
    if not form.is_valid():
        messages.error(request, "Please correct: " + "; ".join(
            f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
            for f, e in form.errors.items()))
        return redirect("deviations:detail", pk=pk)
    try:
        perform(deviation, form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("deviations:detail", pk=pk)


@login_required
@permission_required("deviations.manage_capa", raise_exception=True)
@require_POST
def add_capa(request, pk: int):
    return _plain(request, pk, forms.CapaForm, lambda d, data: workflow.add_capa(
        actor=request.user, deviation=d, **data), "CAPA action added.",
        form_kwargs=lambda d: {"site": d.site})


@login_required
@permission_required("deviations.cancel_deviation", raise_exception=True)
@require_POST
def cancel(request, pk: int):
    return _plain(request, pk, forms.ReasonForm, lambda d, data: workflow.cancel_deviation(
        actor=request.user, deviation=d, reason=data["reason"]), "Deviation cancelled.")


@login_required
@permission_required("deviations.view_deviation", raise_exception=True)
@require_POST
def comment(request, pk: int):
    return _plain(request, pk, forms.CommentForm, lambda d, data: workflow.add_comment(
        actor=request.user, deviation=d, text=data["text"]), "Comment added.")


@login_required
@permission_required("deviations.raise_deviation", raise_exception=True)
@require_POST
def immediate_actions(request, pk: int):
    return _plain(request, pk, forms.ImmediateActionsForm,
                  lambda d, data: workflow.record_immediate_actions(
                      actor=request.user, deviation=d, text=data["immediate_actions"]),
                  "Immediate actions recorded.")


@login_required
@permission_required("deviations.view_deviation", raise_exception=True)
def attachment(request, pk: int, attachment_pk: int):
    """Download evidence; served as an attachment so an SVG is never rendered inline."""
    deviation = selectors.detail(request.user, pk)
    item = get_object_or_404(DeviationAttachment, pk=attachment_pk, deviation=deviation)
    response = HttpResponse(bytes(item.content), content_type=item.content_type)
    response["Content-Disposition"] = content_disposition_header(True, item.filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
