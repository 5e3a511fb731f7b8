"""Shipments: list, page with the temperature chart and excursions, planning, CSV upload."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from custody import selectors
from custody.forms import CsvUploadForm, ShipmentForm
from custody.models import ReadingBatch, Shipment
from custody.services import coldchain
from custody.views.common import form_error
from custody.views.patients import _patient
from mes.errors import DomainError


def _shipment(request, pk: int) -> Shipment:
    try:
        return selectors.shipments_for(request.user).get(pk=pk)
    except Shipment.DoesNotExist:
        raise Http404("No such shipment at your sites.") from None


@login_required
@permission_required("custody.view_shipment", raise_exception=True)
def shipment_list(request):
    shipments = selectors.shipments_for(request.user)
    page = Paginator(shipments, 50).get_page(request.GET.get("page"))
    return render(request, "custody/shipment_list.html", {"page": page})


@login_required
@permission_required("custody.view_shipment", raise_exception=True)
def shipment_detail(request, pk: int):
    shipment = _shipment(request, pk)
    [cold] = selectors.cold_chain_of([shipment], with_series=True)
    return render(request, "custody/shipment_detail.html", {
        "shipment": shipment, "cold": cold,
        "legs": shipment.legs.all(),
        "batches": shipment.reading_batches.select_related("received_by")[:20],
        "reports": shipment.excursion_reports.all(),
        "events": selectors.events_of(shipment.patient).filter(shipment=shipment),
        "window": coldchain.transit_window(shipment),
        "upload_form": CsvUploadForm(),
    })


@login_required
@permission_required("custody.view_shipment", raise_exception=True)
def shipment_chart(request, pk: int):
    shipment = _shipment(request, pk)
    [cold] = selectors.cold_chain_of([shipment], with_series=True)
    response = HttpResponse(cold.svg, content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="temperature-{shipment.reference}.svg"'
    return response


@login_required
@permission_required("custody.add_shipment", raise_exception=True)
def shipment_create(request, patient_pk: int):
    patient = _patient(request, patient_pk)
    form = ShipmentForm(request.POST or None, actor=request.user, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            shipment = coldchain.create_shipment(
                actor=request.user, patient=patient, origin=data["origin"],
                destination=data["destination"], container_type=data["container_type"],
                container_id=data["container_id"], carrier=data["carrier"],
                tracking_number=data["tracking_number"])
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(request, f"Shipment {shipment.reference} planned.")
            return redirect("custody:shipment-detail", pk=shipment.pk)
    return render(request, "custody/shipment_form.html", {"form": form, "patient": patient},
                  status=400 if form.errors else 200)


@login_required
@permission_required("custody.add_temperaturereading", raise_exception=True)
@require_POST
def readings_upload(request, pk: int):
    shipment = _shipment(request, pk)
    form = CsvUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file to upload.")
        return redirect("custody:shipment-detail", pk=pk)
    try:
        rows = coldchain.parse_csv(form.cleaned_data["file"].read())
        default_logger = form.cleaned_data["logger_id"].strip()
        for row in rows:
            row.setdefault("logger_id", default_logger)
            row["logger_id"] = row["logger_id"] or default_logger
        result = coldchain.ingest_readings(actor=request.user, shipment=shipment,
                                           readings=rows, source=ReadingBatch.Source.CSV,
                                           naive_zone=shipment.site.zone)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("custody:shipment-detail", pk=pk)
    if result.batch is None:
        messages.info(request, f"Nothing new: all {result.duplicates} readings were already "
                               "stored.")
        return redirect("custody:shipment-detail", pk=pk)
    text = (f"{result.accepted} readings stored, {result.duplicates} duplicates ignored, "
            f"{len(result.refused)} refused.")
    if result.refused:
        first = result.refused[0]
        text += f" First refused (row {first['index'] + 2}): {first['reason']}."
    messages.success(request, text)
    if result.new_reports:
        messages.error(request, f"{len(result.new_reports)} new temperature excursion "
                                "report(s): a deviation has been raised.")
    return redirect("custody:shipment-detail", pk=pk)
