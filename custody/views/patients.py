"""Patients: list, page (identity block, timeline, chain, shipments, deviations), the
chain-of-custody report, labels, orders, and the logged view of the clinical identity."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from custody import din as isbt
from custody import selectors
from custody.forms import AdvanceOrderForm, LookupForm, OrderForm, PurposeForm
from custody.labels import label_svg
from custody.models import Order, Patient
from custody.sections import patient_sections
from custody.services import orders
from custody.views.common import form_error
from mes.errors import DomainError
from mes.services.security import client_address


def _patient(request, pk: int) -> Patient:
    try:
        return selectors.patient_for(request.user, pk)
    except Patient.DoesNotExist:
        raise Http404("No such patient at your sites.") from None


@login_required
@permission_required("custody.view_patient", raise_exception=True)
def patient_list(request):
    patients = selectors.patients_for(request.user)
    query = request.GET.get("q", "").strip()
    if query:
        try:
            query_din = isbt.parse(query).din
        except isbt.InvalidScan:
            query_din = query.upper()
        patients = patients.filter(coi__icontains=query_din)
        if patients.count() == 1 and len(query_din) >= 13:
            return redirect("custody:patient-detail", pk=patients.get().pk)
    page = Paginator(patients, 50).get_page(request.GET.get("page"))
    return render(request, "custody/patient_list.html",
                  {"page": page, "q": query, "lookup": LookupForm()})


@login_required
@permission_required("custody.view_patient", raise_exception=True)
def patient_detail(request, pk: int):
    patient = _patient(request, pk)
    chain = selectors.chain_of_custody(patient, with_charts=True)
    order = chain.order
    # Only the stages no custody event or batch record stands behind are offered.
    stages = orders.manual_stages(order) if order is not None else []
    advance = AdvanceOrderForm(stages=stages)
    return render(request, "custody/patient_detail.html", {
        "patient": patient, "chain": chain, "advance_form": advance,
        "can_advance": request.user.has_perm("custody.change_order") and bool(stages),
        "purpose_form": PurposeForm(),
        "sections": patient_sections(patient, request.user),
    })


@login_required
@permission_required("custody.view_patient", raise_exception=True)
def chain_report(request, pk: int):
    patient = _patient(request, pk)
    return render(request, "custody/chain_report.html",
                  {"patient": patient, "chain": selectors.chain_of_custody(patient),
                   "sections": patient_sections(patient, request.user),
                   "printed_at": timezone.now()})


def _label(patient: Patient) -> str:
    if patient.din:
        number = patient.isbt
        grouped, flags, check = number.eye_readable
        data = number.barcode_data
    else:
        grouped, flags, check, data = patient.coi, "", None, patient.coi
    return label_svg(barcode_data=data, coi_groups=grouped, flags=flags, check=check,
                     product=patient.product.code, initials=patient.initials,
                     date_of_birth=patient.date_of_birth.isoformat(),
                     site=patient.site.code)


@login_required
@permission_required("custody.view_patient", raise_exception=True)
def label(request, pk: int):
    patient = _patient(request, pk)
    response = HttpResponse(_label(patient), content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="coi-label-{patient.coi}.svg"'
    return response


@login_required
@permission_required("custody.view_patient", raise_exception=True)
def label_sheet(request, pk: int):
    patient = _patient(request, pk)
    return render(request, "custody/label_sheet.html", {"patient": patient,
                                                       "copies": range(2)})


@login_required
@permission_required("custody.add_order", raise_exception=True)
def order_create(request):
    form = OrderForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            order = orders.place_order(actor=request.user, request=orders.OrderRequest(
                product=data["product"], manufacturing_site=data["manufacturing_site"],
                ordering_site=data["ordering_site"], initials=data["initials"],
                date_of_birth=data["date_of_birth"],
                planned_collection_date=data["planned_collection_date"],
                full_name=data["full_name"],
                hospital_record_number=data["hospital_record_number"],
                external_coi=data["external_coi"],
                external_reference=data["external_reference"]))
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(request, f"Order placed: the patient's COI is {order.patient.coi}.")
            return redirect("custody:patient-detail", pk=order.patient.pk)
    return render(request, "custody/order_form.html", {"form": form},
                  status=400 if form.errors else 200)


@login_required
@permission_required("custody.change_order", raise_exception=True)
@require_POST
def order_advance(request, pk: int):
    patient = _patient(request, pk)
    # Any stage is passed on, so that the service says why a stage cannot be set by hand.
    form = AdvanceOrderForm(request.POST, stages=Order.Status.values)
    if not form.is_valid():
        messages.error(request, "Choose the new stage and give a reason.")
        return redirect("custody:patient-detail", pk=pk)
    try:
        orders.advance_order(actor=request.user, order=patient.order,
                             status=form.cleaned_data["status"],
                             reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The order's timeline is updated.")
    return redirect("custody:patient-detail", pk=pk)


# The one showing a POSTed purpose earns, for the GET the browser is redirected to.
REVEALED = "custody_clinical_identity_shown"
REVEAL_SECONDS = 60


@login_required
@permission_required("custody.reveal_clinical_identity", raise_exception=True)
def clinical_identity(request, pk: int):
    """Shown only after the person states why; each showing is logged. The purpose is
    POSTed, then the browser is redirected (UI.md: POST, redirect, GET) to this page, which
    shows the identity once: the session remembers that one logged showing for a short while,
    and a reload or a later visit asks for a purpose again."""
    patient = _patient(request, pk)
    form = PurposeForm(request.POST or None)
    identity = None
    if request.method == "POST" and form.is_valid():
        try:
            orders.reveal_clinical_identity(
                actor=request.user, patient=patient, purpose=form.cleaned_data["purpose"],
                remote_addr=client_address(request))
        except DomainError as error:
            form_error(form, error)
        else:
            request.session[REVEALED] = {"patient": patient.pk,
                                         "until": timezone.now().timestamp() + REVEAL_SECONDS}
            return redirect("custody:clinical-identity", pk=patient.pk)
    elif request.method == "GET":
        shown = request.session.pop(REVEALED, None)
        if (shown and shown.get("patient") == patient.pk
                and shown.get("until", 0) >= timezone.now().timestamp()):
            identity = patient.clinical_identity
    response = render(request, "custody/clinical_identity.html", {
        "patient": patient, "form": form, "identity": identity,
        "accesses": patient.clinical_identity.accesses.select_related("user")[:50],
    }, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response
