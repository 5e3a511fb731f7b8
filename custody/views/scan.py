"""The terminal scan page: record a handoff by scanning the label, then sign it.

The label scan is checked when the form is sent, before the sign dialog opens: a scan that
is not this patient's is refused there and then, and its refusal (and, for a mix-up, the
critical deviation) is already recorded when the error is shown. A refused scan comes back
with the scan field emptied and its own error, so the next scan never appends to it; a
mix-up also comes back as a full-screen alarm that blocks the page until acknowledged.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.urls import reverse

from custody import din as isbt
from custody.forms import HandoffForm
from custody.models import ScanRefusal
from custody.models.custody import EventKind
from custody.services.events import Handoff, check_handoff, record_custody_event
from custody.services.scans import LabelMismatch, verify_label_scan
from custody.views.common import form_error
from deviations.selectors import open_deviations_for
from mes.errors import DomainError
from mes.forms import SignForm
from mes.models import Meaning
from mes.ui import render_sign_dialog, signed_response


def _handoff(data) -> Handoff:
    return Handoff(patient=data["patient"], site=data["site"], kind=data["kind"],
                   container_id=data["container_id"], label_scan=data["label_scan"],
                   location=data["location"], position=data["position"],
                   shipment=data["shipment"], note=data["note"])


def _page(request, form, status=200, alarm=None):
    return render(request, "custody/scan.html", {"form": form, "alarm": alarm},
                  status=status)


def _refused_scan(request, form, handoff: Handoff, error: DomainError) -> dict | None:
    """Put a refused scan on the form: the field emptied, with its own error. A mix-up is an
    alarm (returned for the page) instead of the banner; a misread is the banner."""
    data = form.data.copy()
    data["label_scan"] = ""
    form.data = data  # rendered empty; the refused scan stays in the refusal record
    form.fields["label_scan"].widget.attrs.update({
        "aria-invalid": "true", "aria-describedby": f"{form['label_scan'].auto_id}-error"})
    if isinstance(error, LabelMismatch):
        form.add_error("label_scan", "Refused: not this patient's label. Scan this "
                                     "patient's label.")
        refusal = (ScanRefusal.objects.filter(patient=handoff.patient, scanned_by=request.user)
                   .order_by("-scanned_at", "-pk").first())
        deviation = open_deviations_for(subject=refusal).first() if refusal else None
        return {"message": error.message, "scanned": handoff.label_scan.strip(),
                "expected": handoff.patient.coi,
                "deviation": deviation.number if deviation else ""}
    form_error(form, error)
    form.add_error("label_scan", "Refused: rescan the label.")
    return None


@login_required
@permission_required("custody.add_custodyevent", raise_exception=True)
def scan(request):
    if request.method != "POST":
        initial = {"patient": request.GET.get("patient"), "kind": request.GET.get("kind"),
                   "shipment": request.GET.get("shipment")}
        sites = list(request.user.sites()[:2])
        if len(sites) == 1:
            initial["site"] = sites[0]
        return _page(request, HandoffForm(initial=initial, actor=request.user))
    form = HandoffForm(request.POST, actor=request.user)
    if not form.is_valid():
        return _page(request, form, status=400)
    handoff = _handoff(form.cleaned_data)
    summary = [("Patient (COI)", handoff.patient.coi),
               ("Event", EventKind(handoff.kind).label),
               ("Site", str(handoff.site)), ("Container", handoff.container_id),
               ("Label scan", handoff.label_scan)]
    if handoff.location:
        summary.append(("Location", f"{handoff.location} {handoff.position}".strip()))
    action = reverse("custody:scan")
    title = f"Sign: {EventKind(handoff.kind).label}"
    if "password" not in request.POST:
        try:
            check_handoff(actor=request.user, handoff=handoff)
            verify_label_scan(actor=request.user, patient=handoff.patient,
                              scan=handoff.label_scan, site=handoff.site,
                              context=EventKind(handoff.kind).label.lower())
        except (LabelMismatch, isbt.InvalidScan) as error:
            alarm = _refused_scan(request, form, handoff, error)
            response = _page(request, form, status=error.status, alarm=alarm)
            if request.htmx:  # show the refusal on the scan card, not in the dialog
                response["HX-Retarget"] = "#scan-card"
                response["HX-Reswap"] = "outerHTML"
                response["HX-Reselect"] = "#scan-card"
            return response
        except DomainError as error:
            form_error(form, error)
            response = _page(request, form, status=error.status)
            if request.htmx:  # show the refusal on the scan card, not in the dialog
                response["HX-Retarget"] = "#scan-card"
                response["HX-Reswap"] = "outerHTML"
                response["HX-Reselect"] = "#scan-card"
            return response
        return render_sign_dialog(request, title=title, summary=summary,
                                  meaning=Meaning.PERFORMED, form=form,
                                  sign_form=SignForm(), action=action)
    try:
        event = record_custody_event(actor=request.user,
                                     password=request.POST.get("password", ""),
                                     handoff=handoff, request=request)
    except DomainError as error:
        return render_sign_dialog(request, title=title, summary=summary,
                                  meaning=Meaning.PERFORMED, form=form,
                                  sign_form=SignForm(request.POST), action=action,
                                  error=error)
    messages.success(request, f"{event.get_kind_display()} recorded and signed for "
                              f"{event.patient.coi}.")
    return signed_response(request, reverse("custody:patient-detail",
                                            args=[event.patient_id]) + "#chain")
