"""The QA workspace for patients' batches: the list (filters in the URL, exceptions first,
CSV export) and the batch overview, which refreshes itself with htmx in the background
without extending the idle session (the fragment is polled with the background header).

Rows are prepared once in Python (mes.presenters): a 40-step batch renders as plain values."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from batchrecords import reads
from batchrecords.models import BatchStatus, DataField, StepScan, StepStatus
from custody.models import Product
from mes import identifiers
from mes.presenters import row_url
from mes.widgets import FilterForm
from scheduling.models import Suite

VIEW = "batchrecords.view_batch"
PAGE_SIZE = 50
# Every 20 s: the overview follows the suite's work closely without loading the server.
LIVE_SECONDS = 20
DIGEST_HEADER = "X-Overview-Digest"
OVERVIEW = "batchrecords/_batch_overview.html"

STATUS_CSS = {BatchStatus.REJECTED: "pill-bad", BatchStatus.CANCELLED: "pill-bad",
              BatchStatus.RELEASED: "pill-ok"}
STEP_CSS = {StepStatus.DONE: "pill-ok", StepStatus.PERFORMED: "pill-warn"}
FLAG_CSS = {"action": "pill-bad", "alert": "pill-warn"}


class BatchFilterForm(FilterForm):
    q = forms.CharField(required=False, max_length=64, label="Batch number or COI")
    status = forms.ChoiceField(choices=[("", "Any status"), *BatchStatus.choices],
                               required=False)
    suite = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any suite")
    product = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any product",
                                     to_field_name="code")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["suite"].queryset = (Suite.objects.filter(site_id__in=sorted(user.site_ids()))
                                         .select_related(None).order_by("code"))
        self.fields["product"].queryset = Product.objects.order_by("code")


def _filtered(request):
    form = BatchFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    batches = reads.batch_list(
        request.user, status=filters.get("status", ""), suite=filters.get("suite"),
        product=filters.get("product"), query=filters.get("q", ""))
    return form, batches


def _list_rows(page) -> list[dict]:
    rows = []
    for batch in page:
        suite = batch.booking.suite.code if batch.booking_id else ""
        rows.append({
            "number": batch.number, "url": row_url("batchrecords:batch-detail", batch.pk),
            "patient": batch.patient,
            "product": batch.version.master.product.code,
            "version": f"v{batch.version.number}", "suite": suite,
            "status": batch.get_status_display(), "status_value": batch.status,
            "status_css": STATUS_CSS.get(batch.status, ""),
            "origin": batch.get_origin_display() if batch.previous_id else "",
            "done": batch.steps_done, "total": batch.steps_total,
            "exceptions": batch.exception_count, "stopped": batch.open_stop,
            "flagged": batch.has_flag,
            "opened": identifiers.when(batch.opened_at, batch.site)})
    return rows


@login_required
@permission_required(VIEW, raise_exception=True)
def batch_list(request):
    form, batches = _filtered(request)
    page = Paginator(batches, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "batchrecords/batch_list.html", {
        "form": form, "page": page, "rows": _list_rows(page), "query": query.urlencode()})


def _cell(value) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: such text is quoted."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@login_required
@permission_required(VIEW, raise_exception=True)
def batch_list_csv(request):
    _form, batches = _filtered(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="batches.csv"'
    writer = csv.writer(response)
    writer.writerow(["Batch number", "Patient COI", "Product", "Master version", "Status",
                     "Suite", "Site", "Origin", "Previous batch", "Steps done", "Steps",
                     "Exceptions", "Open stop", "Flagged entry", "Opened (UTC)"])
    for batch in batches.select_related("previous"):
        writer.writerow([_cell(v) for v in (
            batch.number, identifiers.coi_text(batch.patient),
            batch.version.master.product.code, batch.version.number,
            batch.get_status_display(), batch.booking.suite.code if batch.booking_id else "",
            batch.site.code, batch.get_origin_display(),
            batch.previous.number if batch.previous_id else "", batch.steps_done,
            batch.steps_total, batch.exception_count, "yes" if batch.open_stop else "no",
            "yes" if batch.has_flag else "no", batch.opened_at.isoformat())])
    return response


# --- the overview ----------------------------------------------------------------------------

def _person_at(person, moment, zone) -> dict | None:
    if person is None:
        return None
    return {"name": person.full_name, "at": identifiers.when(moment, zone)}


def _value_text(value, zone) -> str:
    """A value as people read it: with its unit, a moment in the site's zone."""
    if value.field.kind == DataField.Kind.DATETIME:
        try:
            return identifiers.when_text(dt.datetime.fromisoformat(value.value), zone)
        except ValueError:
            return value.value
    unit = value.field.unit
    return f"{value.value} {unit}" if unit and value.number is not None else value.value


def _step_rows(view: reads.Overview, zone) -> list[dict]:
    exceptions_by_run: dict[int, int] = {}
    for exception in view.exceptions:
        if exception.run_id:
            exceptions_by_run[exception.run_id] = exceptions_by_run.get(exception.run_id, 0) + 1
    rows = []
    for run in view.runs:
        step = run.step
        rows.append({
            "pk": run.pk, "operation": step.operation.code, "code": step.code,
            "title": step.title, "sequence": run.sequence, "critical": step.critical,
            # A signed step whose value was corrected since is pending again, with values.
            "status": ("To be signed again" if run.status == StepStatus.PENDING
                       and view.values.get(run.pk) else run.get_status_display()),
            "status_value": run.status,
            "status_css": STEP_CSS.get(run.status, ""), "flagged": run.flagged,
            "needs_verification": step.second_person_verification,
            "performed": _person_at(run.performed_by, run.performed_at, zone),
            "verified": _person_at(run.verified_by, run.verified_at, zone),
            "na_reason": run.na_reason, "exceptions": exceptions_by_run.get(run.pk, 0),
            "values": [
                {"label": entry.current.field.label, "text": _value_text(entry.current, zone),
                 "flag": entry.current.get_flag_display() if entry.current.flag else "",
                 "flag_css": FLAG_CSS.get(entry.current.flag, ""),
                 "corrected": bool(entry.earlier),
                 "original": _value_text(entry.earlier[0], zone) if entry.earlier else ""}
                for entry in view.values.get(run.pk, [])]})
    return rows


def _flagged_rows(view: reads.Overview, zone) -> list[dict]:
    return [{
        "step": value.run.step.code, "label": value.field.label, "text": _value_text(value, zone),
        "flag": value.get_flag_display() if value.flag else "",
        "flag_css": FLAG_CSS.get(value.flag, ""),
        "original": _value_text(value.corrects, zone) if value.corrects_id else "",
        "reason": value.reason, "by": value.entered_by.full_name,
        "at": identifiers.when(value.entered_at, zone)} for value in view.flagged_values()]


def _exception_rows(view: reads.Overview, zone) -> list[dict]:
    # An exception keeps the value as text; the step's field gives its unit.
    units = {(value.run_id, value.field.key): value.field.unit for value in view.all_values
             if value.field.unit and value.number is not None}

    def value_text(exception) -> str:
        unit = units.get((exception.run_id, exception.field_key))
        return f"{exception.value} {unit}" if unit and exception.value else exception.value

    return [{
        "kind": exception.get_kind_display(), "kind_value": exception.kind,
        "step": exception.run.step.code if exception.run_id else "",
        "code": exception.code, "field": exception.field_key, "value": value_text(exception),
        "detail": exception.detail, "actor": exception.actor.full_name,
        "second": exception.second_person.full_name if exception.second_person_id else "",
        "deviation": exception.deviation.number if exception.deviation_id else "",
        "deviation_url": (row_url("deviations:detail", exception.deviation_id)
                          if exception.deviation_id else ""),
        "at": identifiers.when(exception.recorded_at, zone)} for exception in view.exceptions]


def _scan_rows(view: reads.Overview, zone) -> tuple[list[dict], list[dict]]:
    lots, equipment = [], []
    for scan in view.scans:
        if not scan.accepted:
            continue
        common = {"step": scan.run.step.code, "by": scan.scanned_by.full_name,
                  "at": identifiers.when(scan.scanned_at, zone)}
        if scan.kind == StepScan.Kind.LOT and scan.lot_id:
            unit = scan.material.unit if scan.material_id else scan.lot.material.unit
            lots.append({**common, "material": scan.lot.material.code,
                         "lot": identifiers.lot_number(scan.lot.supplier_lot),
                         "lot_url": row_url("reagents:lot-detail", scan.lot_id),
                         "quantity": identifiers.quantity(scan.quantity, unit),
                         "substitution": scan.substitution_reason})
        elif scan.kind == StepScan.Kind.EQUIPMENT and scan.equipment_id:
            piece = scan.equipment
            equipment.append({**common, "identifier": piece.identifier, "name": piece.name,
                              "type": piece.equipment_type.name})
    return lots, equipment


def _overview_context(request, pk) -> dict:
    batch = reads.batch_for(request.user, pk)
    view = reads.overview(request.user, batch)
    zone = batch.site
    lots, equipment = _scan_rows(view, zone)
    stop = view.open_stop
    return {
        "batch": batch, "view": view, "zone": zone, "steps": _step_rows(view, zone),
        "operations": view.operations, "next_steps": view.next_steps,
        "flagged": _flagged_rows(view, zone),
        "exceptions": _exception_rows(view, zone), "lots": lots, "equipment": equipment,
        "checks": view.passed_checks, "stop": stop,
        "stop_raised": identifiers.when(stop.raised_at, zone) if stop else "",
        "deviations": [{"number": d.number, "title": d.title, "status": d.get_status_display(),
                        "classification": d.get_classification_display(),
                        "url": row_url("deviations:detail", d.pk)} for d in view.deviations],
        "followed_by": view.followed_by, "status_css": STATUS_CSS.get(batch.status, ""),
        "live_seconds": LIVE_SECONDS,
    }


@login_required
@permission_required(VIEW, raise_exception=True)
def batch_detail(request, pk: int):
    context = _overview_context(request, pk)
    # Rendered once here, so the page carries the digest its first poll compares with.
    body = render_to_string(OVERVIEW, context, request)
    return render(request, "batchrecords/batch_detail.html",
                  {**context, "overview": body, "digest": _digest(body.encode())})


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:32]


@login_required
@permission_required(VIEW, raise_exception=True)
def batch_overview_live(request, pk: int):
    """The overview's body, polled by the page with the background header: it never counts
    as activity, so a screen left open still locks at the idle limit. When nothing changed
    since the page's last copy (its digest) the answer is 204 and nothing is swapped, so the
    reader's focus and selection stay where they are."""
    response = render(request, OVERVIEW, _overview_context(request, pk))
    digest = _digest(response.content)
    if request.headers.get(DIGEST_HEADER) == digest:
        return HttpResponse(status=204)
    response[DIGEST_HEADER] = digest
    return response
