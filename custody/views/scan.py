"""The terminal scan page, scan first: scan the label, see whose material it is and the
handoff expected next, confirm, sign.

1. The scan (POST, then a redirect to ``?label=…``, so the address bar is the page shown).
   Opened for one patient (``?patient=``), the scan must be that patient's label: any
   other is refused, recorded and, for a mix-up, raised as a critical deviation and shown
   as a full-screen alarm. The scan field always comes back empty.
2. The confirmation (GET ``?label=…[&kind=…]``): the patient, where the material is, the
   event expected next with its site, shipment and container, the gap it would open in the
   chain, the cold chain of a receipt, and why it cannot be signed, if it cannot: then
   there is no sign button. Other events are behind "something else".
3. The sign dialog (htmx into ``#dialog``) and the signature. A refusal keeps the dialog
   with its error; a success redirects to the patient's chain.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.urls import reverse

from custody import din as isbt
from custody.forms import ConfirmHandoffForm, ScanForm
from custody.models import Patient, ScanRefusal
from custody.models.custody import EventKind
from custody.next_handoff import Proposal, UnknownLabel, find_patient, propose
from custody.selectors import patients_for
from custody.services.events import check_handoff, record_custody_event
from custody.services.scans import LabelMismatch, verify_label_scan
from custody.views.common import form_error
from deviations.selectors import open_deviations_for
from mes.errors import DomainError
from mes.forms import SignForm
from mes.models import Meaning
from mes.ui import render_sign_dialog, signed_response

# django-htmx's debug script (DEBUG on) replaces the whole page with any htmx response of
# these statuses; a refusal shown in the dialog or on the card must never do that.
_REPLACED_IN_DEBUG = {400, 403, 404, 500}


def _htmx_safe(request, response):
    if request.htmx and response.status_code in _REPLACED_IN_DEBUG:
        response.status_code = 422
    return response


def _scan_url(label: str, kind: str | None = None) -> str:
    query = {"label": label.strip(), **({"kind": kind} if kind else {})}
    return f"{reverse('custody:scan')}?{urlencode(query)}"


def _context_patient(request, pk) -> Patient | None:
    """The patient the page was opened for (from the patient page), if visible."""
    try:
        return patients_for(request.user).get(pk=int(pk)) if pk else None
    except (Patient.DoesNotExist, TypeError, ValueError):
        return None


def _page(
    request,
    *,
    scan_form=None,
    proposal: Proposal | None = None,
    confirm_form=None,
    context_patient=None,
    alarm=None,
    error: DomainError | None = None,
    status=200,
):
    if scan_form is None:
        scan_form = ScanForm(initial={"patient": context_patient.pk if context_patient else None})
    if proposal is not None and confirm_form is None and proposal.kind:
        confirm_form = ConfirmHandoffForm(
            initial={
                "label_scan": proposal.label_scan,
                "kind": proposal.kind,
                "site": proposal.site.pk,
                "container_id": proposal.container_id,
                "shipment": proposal.shipment.pk if proposal.shipment else None,
            }
        )
    kind_links = (
        [(label, _scan_url(proposal.label_scan, value)) for value, label in proposal.other_kinds]
        if proposal is not None
        else []
    )
    return render(
        request,
        "custody/scan.html",
        {
            "scan_form": scan_form,
            "proposal": proposal,
            "confirm_form": confirm_form,
            "kind_links": kind_links,
            "context_patient": context_patient,
            "alarm": alarm,
            "error": error,
        },
        status=status,
    )


def _scan_refused(scan_form: ScanForm, error: DomainError, field_error: str) -> None:
    """The scan field comes back empty (the refused scan stays in its refusal record), with
    its own error; the banner says what happened."""
    data = scan_form.data.copy()
    data["scan"] = ""
    scan_form.data = data
    scan_form.fields["scan"].widget.attrs.update(
        {"aria-invalid": "true", "aria-describedby": f"{scan_form['scan'].auto_id}-error"}
    )
    scan_form.add_error("scan", field_error)
    if not isinstance(error, LabelMismatch):
        scan_form.add_error(None, error.message)


def _refusal_site(user, patient: Patient):
    """Where a refused scan is recorded: the person's site among the patient's sites."""
    ids = (patient.site_id, patient.treating_site_id)
    return next((site for site in user.sites() if site.pk in ids), patient.site)


def _mismatch_alarm(request, patient: Patient, scan: str, error: LabelMismatch) -> dict:
    refusal = (
        ScanRefusal.objects.filter(patient=patient, scanned_by=request.user)
        .order_by("-scanned_at", "-pk")
        .first()
    )
    deviation = open_deviations_for(subject=refusal).first() if refusal else None
    return {
        "message": error.message,
        "scanned": scan.strip(),
        "expected": _coi_text(patient),
        "deviation": deviation.number if deviation else "",
    }


def _take_scan(request):
    scan_form = ScanForm(request.POST)
    if not scan_form.is_valid():
        return _page(request, scan_form=scan_form, status=400)
    scan = scan_form.cleaned_data["scan"]
    context = _context_patient(request, scan_form.cleaned_data.get("patient"))
    try:
        if context is not None:
            expected = propose(user=request.user, patient=context, label_scan="")
            verify_label_scan(
                actor=request.user,
                patient=context,
                scan=scan,
                site=_refusal_site(request.user, context),
                context=(expected.kind_label or "label scan").lower(),
            )
        else:
            find_patient(user=request.user, scan=scan)
    except LabelMismatch as error:
        _scan_refused(
            scan_form, error, "Refused: not this patient's label. Scan this patient's label."
        )
        return _page(
            request,
            scan_form=scan_form,
            context_patient=context,
            alarm=_mismatch_alarm(request, context, scan, error),
            status=error.status,
        )
    except UnknownLabel as error:
        _scan_refused(scan_form, error, "Not a patient at your sites: check the label.")
        return _page(request, scan_form=scan_form, context_patient=context, status=404)
    except isbt.InvalidScan as error:
        _scan_refused(scan_form, error, "Refused: rescan the label.")
        return _page(request, scan_form=scan_form, context_patient=context, status=error.status)
    return redirect(_scan_url(scan), permanent=False)


def _show(request):
    label = request.GET.get("label", "")
    context = _context_patient(request, request.GET.get("patient"))
    if not label.strip():
        return _page(request, context_patient=context)
    kind = request.GET.get("kind") or None
    if kind is not None and kind not in EventKind.values:
        return _page(
            request,
            error=DomainError(f"“{kind}” is not a custody event: scan again.", code="invalid"),
            status=400,
        )
    try:
        patient = find_patient(user=request.user, scan=label)
    except (UnknownLabel, isbt.InvalidScan) as error:
        scan_form = ScanForm(data={"scan": label})
        scan_form.is_valid()
        _scan_refused(scan_form, error, "Refused: rescan the label.")
        return _page(request, scan_form=scan_form, status=error.status)
    proposal = propose(user=request.user, patient=patient, label_scan=label.strip(), kind=kind)
    return _page(request, proposal=proposal)


def _coi_text(patient: Patient) -> str:
    """The COI as people read it (grouped, flags, [check character]) in plain text."""
    return str(patient.isbt) if patient.isbt else patient.coi


def _summary(proposal: Proposal, handoff) -> list[tuple[str, str]]:
    patient = proposal.patient
    summary = [
        ("Patient (COI)", _coi_text(patient)),
        ("Initials", patient.initials),
        ("Date of birth", patient.date_of_birth.isoformat()),
        ("Event", proposal.kind_label),
        ("Site", str(handoff.site)),
        ("Container", handoff.container_id),
    ]
    if proposal.shipment is not None:
        summary.append(("Shipment", proposal.shipment.reference))
    if handoff.location:
        summary.append(("Location", f"{handoff.location} {handoff.position}".strip()))
    summary.append(("Label scan", handoff.label_scan))
    if proposal.gap:
        summary.append(("Break in the chain", proposal.gap))
    return summary


def _refused_on_card(request, proposal, confirm_form, error: DomainError):
    form_error(confirm_form, error)
    response = _page(request, proposal=proposal, confirm_form=confirm_form, status=error.status)
    if request.htmx:  # the refusal goes on the confirmation card, not into the dialog
        response["HX-Retarget"] = "#scan-card"
        response["HX-Reswap"] = "outerHTML"
        response["HX-Reselect"] = "#scan-card"
    return _htmx_safe(request, response)


def _sign(request):
    confirm_form = ConfirmHandoffForm(request.POST)
    if not confirm_form.is_valid():
        return _htmx_safe(
            request,
            _page(
                request,
                error=DomainError(
                    "The confirmation was incomplete: scan the label again.", code="invalid"
                ),
                status=400,
            ),
        )
    data = confirm_form.cleaned_data
    try:
        patient = find_patient(user=request.user, scan=data["label_scan"])
    except (UnknownLabel, isbt.InvalidScan) as error:
        return _htmx_safe(request, _page(request, error=error, status=error.status))
    proposal = propose(
        user=request.user, patient=patient, label_scan=data["label_scan"], kind=data["kind"]
    )
    handoff = proposal.handoff(
        container_id=data["container_id"] or proposal.container_id,
        location=data["location"],
        position=data["position"],
    )
    if proposal.site.pk != data["site"] or (
        (proposal.shipment.pk if proposal.shipment else None) != data["shipment"]
    ):
        return _refused_on_card(
            request,
            proposal,
            confirm_form,
            DomainError(
                "The chain changed since this was shown (another handoff or shipment was "
                "recorded). Check the confirmation again.",
                code="stale_confirmation",
            ),
        )
    action = reverse("custody:scan")
    title = f"Sign: {proposal.kind_label} for {_coi_text(patient)}"
    dialog = {
        "title": title,
        "summary": _summary(proposal, handoff),
        "meaning": Meaning.PERFORMED,
        "form": confirm_form,
        "action": action,
    }
    if "password" not in request.POST:
        # Everything but the password is checked before the dialog opens.
        refusal = proposal.refusal or _check(request.user, handoff)
        if refusal is not None:
            return _refused_on_card(request, proposal, confirm_form, refusal)
        return render_sign_dialog(request, sign_form=SignForm(), **dialog)
    try:
        event = record_custody_event(
            actor=request.user,
            password=request.POST.get("password", ""),
            handoff=handoff,
            request=request,
        )
    except DomainError as error:
        return _htmx_safe(
            request,
            render_sign_dialog(request, sign_form=SignForm(request.POST), error=error, **dialog),
        )
    messages.success(
        request, f"{event.get_kind_display()} recorded and signed for {_coi_text(patient)}."
    )
    return signed_response(
        request, reverse("custody:patient-detail", args=[event.patient_id]) + "#chain"
    )


def _check(user, handoff) -> DomainError | None:
    try:
        check_handoff(actor=user, handoff=handoff)
    except DomainError as error:
        return error
    return None


@login_required
@permission_required("custody.add_custodyevent", raise_exception=True)
def scan(request):
    if request.method != "POST":
        return _show(request)
    if "label_scan" in request.POST:
        return _sign(request)
    return _take_scan(request)
