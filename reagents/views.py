"""Reagent pages: lots, receiving by scan, QA decisions (signed), inventory, genealogy."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.backends.utils import csrf_input
from django.urls import reverse
from django.views.decorators.http import require_POST

from mes import identifiers
from mes.errors import DomainError
from mes.forms import SignForm
from mes.models import Meaning
from mes.presenters import row_url
from mes.ui import render_sign_dialog, signed_response
from reagents import selectors, services
from reagents.forms import (
    AdjustForm,
    BatchGenealogyForm,
    DecisionReasonForm,
    LotFilterForm,
    MaterialForm,
    ReceiveForm,
    ReleaseForm,
    ReverseForm,
    ScanForm,
)
from reagents.gs1 import SeparatorMissing
from reagents.models import LotStatus, ReagentLot, StockEntry

VIEW_LOTS = "reagents.view_reagentlot"


def _form_errors(form, error: DomainError) -> None:
    form.add_error(None, error.message)
    for field, errors in error.fields.items():
        if field in form.fields:
            for message in errors:
                form.add_error(field, message)


@login_required
@permission_required(VIEW_LOTS, raise_exception=True)
def lot_list(request):
    form = LotFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    lots = selectors.lots_for(request.user, status=filters.get("status") or "",
                              material=filters.get("material") or "",
                              expiring_days=filters.get("expiring"),
                              query=(filters.get("q") or "").strip())
    page = Paginator(lots, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reagents/lot_list.html",
                  {"form": form, "page": page, "query": query.urlencode()})


@login_required
@permission_required(VIEW_LOTS, raise_exception=True)
def lot_detail(request, pk: int):
    lot = _lot(request, pk)
    entries = Paginator(selectors.ledger(lot), LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    user = request.user
    release_refusal = ""
    if user.has_perm("reagents.release_lot") and lot.status in (LotStatus.QUARANTINE,
                                                                 LotStatus.ON_HOLD):
        try:  # say why release is impossible rather than offer a dialog that will refuse
            services.check_lot_decision(user=user, lot=lot, target=LotStatus.RELEASED)
        except DomainError as error:
            release_refusal = error.message
    return render(request, "reagents/lot_detail.html", {
        "release_refusal": release_refusal,
        "lot": lot,
        "changes": selectors.status_history(lot),
        "entries": entries,
        "ledger": ledger_rows(lot, entries),
        "csrf_input": csrf_input(request),  # once, not a {% csrf_token %} per ledger row
        "past_expiry": lot.is_past_expiry(),
        "can_decide": user.has_perm("reagents.release_lot"),
        "can_adjust": user.has_perm("reagents.adjust_stock"),
        "can_reverse": user.has_perm("reagents.reverse_consumption"),
        "release_form": ReleaseForm(initial={"coa_reference": lot.coa_reference}),
        "reason_form": DecisionReasonForm(),
        "adjust_form": AdjustForm(),
        "reverse_form": ReverseForm(),
    })


LEDGER_PAGE_SIZE = 50
RECALL_PAGE_SIZE = 50


def ledger_rows(lot: ReagentLot, entries) -> list[dict]:
    """The ledger page's rows, prepared once in Python (mes.presenters): times in the lot's
    site zone, quantities with the material's unit, the reversal form's address."""
    unit, zone = lot.material.unit, lot.site
    rows = []
    for entry in entries:
        reversed_by = getattr(entry, "reversed_by", None)
        rows.append({
            "pk": entry.pk, "kind": entry.kind, "kind_label": entry.get_kind_display(),
            "occurred": identifiers.when(entry.occurred_at, zone),
            "recorded": (identifiers.when(entry.recorded_at, zone)
                         if entry.recorded_at.replace(second=0, microsecond=0)
                         != entry.occurred_at.replace(second=0, microsecond=0) else ""),
            "reverses_id": entry.reverses_id,
            "quantity": identifiers.quantity(entry.quantity, unit),
            "balance": identifiers.quantity(entry.balance_after, unit),
            "batch": identifiers.batch_number(entry.batch_number),
            "patient": identifiers.coi(entry.patient_coi) if entry.patient_coi else "",
            "purpose": entry.purpose_label, "by": entry.entered_by.full_name,
            "reason": entry.reason,
            "reversible": entry.kind == "consumption" and reversed_by is None,
            "reversed_by": reversed_by.pk if reversed_by is not None else None,
            "reverse_url": row_url("reagents:entry-reverse", entry.pk)})
    return rows


def _lot(request, pk: int) -> ReagentLot:
    try:
        return selectors.lot_detail(request.user, pk)
    except ReagentLot.DoesNotExist as exc:
        raise Http404("No such lot.") from exc


DECISIONS = {
    # action: (title, meaning, form class, service, resulting status, what the message says)
    "release": ("Release reagent lot", Meaning.RELEASED, ReleaseForm, services.release_lot,
                LotStatus.RELEASED, "released"),
    "reject": ("Reject reagent lot", Meaning.REJECTED, DecisionReasonForm, services.reject_lot,
               LotStatus.REJECTED, "rejected"),
    "hold": ("Put reagent lot on hold", Meaning.APPROVED, DecisionReasonForm,
             services.hold_lot, LotStatus.ON_HOLD, "put on hold"),
}


@login_required
@permission_required("reagents.release_lot", raise_exception=True)
@require_POST
def lot_decide(request, pk: int, action: str):
    """QA's decision: a valid form opens the sign dialog, whose POST (with the password)
    applies and signs it."""
    if action not in DECISIONS:
        raise Http404("No such decision.")
    lot = _lot(request, pk)
    title, meaning, form_class, service, target, done = DECISIONS[action]
    form = form_class(request.POST)
    try:  # say why the decision cannot be signed instead of asking for the password
        services.check_lot_decision(user=request.user, lot=lot, target=target)
    except DomainError as error:
        if request.htmx:
            return render(request, "reagents/_decide_refused.html",
                          {"title": title, "error": error}, status=error.status)
        form.is_valid()
        form.add_error(None, error.message)
        return render(request, "reagents/decide_form.html",
                      {"lot": lot, "form": form, "title": title, "action": action,
                       "refused": True}, status=error.status)
    if not form.is_valid():
        return render(request, "reagents/decide_form.html",
                      {"lot": lot, "form": form, "title": title, "action": action},
                      status=400)
    data = form.cleaned_data
    summary = [("Lot", f"{lot} at {lot.site.code}"), ("Material", str(lot.material)),
               ("Expiry", f"{lot.expiry_date:%Y-%m-%d}"),
               ("Status", f"{lot.get_status_display()} → {target.label}")]
    if "coa_reference" in data:
        summary.append(("Certificate of analysis", data["coa_reference"]))
    if data.get("reason"):
        summary.append(("Reason", data["reason"]))
    url = reverse("reagents:lot-decide", args=[lot.pk, action])
    sign_form = SignForm(request.POST if "password" in request.POST else None)
    dialog = {"title": title, "summary": summary, "meaning": meaning, "form": form,
              "sign_form": sign_form, "action": url}
    if "password" not in request.POST:
        return render_sign_dialog(request, **dialog)
    try:
        service(user=request.user, password=request.POST.get("password", ""), lot=lot,
                request=request, **data)
    except DomainError as error:
        return render_sign_dialog(request, **dialog, error=error)
    messages.success(request, f"{lot} {done} and signed.")
    return signed_response(request, reverse("reagents:lot-detail", args=[lot.pk]))


@login_required
@permission_required("reagents.receive_lot", raise_exception=True)
def receive(request):
    """Scan first: the scan (a GET, it writes nothing) shows what the label decodes to, or
    why the lot must not be received, before the quantity is asked; the POST receives it."""
    data = request.POST if request.method == "POST" else request.GET
    scan_form = ScanForm(data if "scan" in data else None, user=request.user)
    context = {"scan_form": scan_form}
    if not scan_form.is_bound:
        return render(request, "reagents/receive.html", context)
    if not scan_form.is_valid():
        return render(request, "reagents/receive.html", context, status=400)
    site, scan = scan_form.cleaned_data["site"], scan_form.cleaned_data["scan"]
    # The scan field clears itself: the next scan replaces this one, never appends to it.
    context["scan_form"] = ScanForm(initial={"site": site.pk}, user=request.user)
    try:
        preview = services.preview_receipt(user=request.user, site=site, scan=scan)
    except DomainError as error:
        context["refusal"] = error
        return render(request, "reagents/receive.html", context, status=400)
    context["scan_form"].fields["scan"].widget.attrs.pop("autofocus", None)
    context["preview"] = preview
    if request.method == "GET":
        context["form"] = ReceiveForm(initial={"site": site.pk, "scan": scan},
                                      user=request.user, preview=preview)
        return render(request, "reagents/receive.html", context)
    form = context["form"] = ReceiveForm(request.POST, user=request.user, preview=preview)
    if form.is_valid():
        try:
            lot = services.receive_lot(
                user=request.user, site=site, scan=scan, quantity=form.cleaned_data["quantity"],
                storage_location=form.cleaned_data["storage_location"],
                expiry_date=form.cleaned_data.get("expiry_date"),
                reading=form.cleaned_data.get("reading", ""))
        except SeparatorMissing as error:
            form.add_error(None, error.message)
            if "reading" in form.fields:
                form.add_error("reading", "Choose how the printed label reads.")
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Received {lot}: {lot.quantity_received} "
                                      f"{lot.material.unit}, {lot.get_status_display().lower()}.")
            return redirect("reagents:lot-detail", pk=lot.pk)
    return render(request, "reagents/receive.html", context, status=400)


@login_required
@permission_required("reagents.adjust_stock", raise_exception=True)
@require_POST
def lot_adjust(request, pk: int):
    lot = _lot(request, pk)
    form = AdjustForm(request.POST)
    if not form.is_valid():
        messages.error(request, "An adjustment needs a quantity and a reason.")
    else:
        try:
            services.adjust_stock(user=request.user, lot=lot, **form.cleaned_data)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Stock adjusted.")
    return redirect("reagents:lot-detail", pk=lot.pk)


@login_required
@permission_required("reagents.reverse_consumption", raise_exception=True)
@require_POST
def entry_reverse(request, pk: int):
    entry = get_object_or_404(StockEntry.objects.visible_to(request.user), pk=pk)
    form = ReverseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A reversal needs a reason.")
    else:
        try:
            services.reverse_consumption(user=request.user, entry=entry,
                                         reason=form.cleaned_data["reason"])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Consumption reversed; the original entry stays.")
    return redirect("reagents:lot-detail", pk=entry.lot_id)


@login_required
@permission_required(VIEW_LOTS, raise_exception=True)
def inventory(request):
    return render(request, "reagents/inventory.html",
                  {"rows": selectors.inventory(request.user)})


@login_required
@permission_required(VIEW_LOTS, raise_exception=True)
def lot_genealogy(request, pk: int):
    lot = _lot(request, pk)
    page = Paginator(selectors.recall_rows(lot), RECALL_PAGE_SIZE).get_page(request.GET.get("page"))
    batch_page = reverse("reagents:batch-genealogy")
    unit = lot.material.unit
    uses = [{"use": use,
             "batch_url": f"{batch_page}?{urlencode({'batch_number': use.batch_number})}",
             "batch": identifiers.batch_number(use.batch_number),
             "patient": identifiers.coi(use.patient_coi),
             "quantity": identifiers.quantity(use.quantity, unit),
             "first": identifiers.when(use.first_used), "last": identifiers.when(use.last_used),
             "consumptions": use.consumptions}
            for use in selectors.as_uses(page.object_list)]
    return render(request, "reagents/lot_genealogy.html", {"lot": lot, "page": page, "uses": uses})


@login_required
@permission_required(VIEW_LOTS, raise_exception=True)
def lot_recall_csv(request, pk: int):
    lot = _lot(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="recall-{lot.material.code}-{lot.supplier_lot}.csv"')
    writer = csv.writer(response)
    writer.writerow(["Batch number", "Patient COI", "Quantity", "Unit", "First used (UTC)",
                     "Last used (UTC)", "Consumptions", "Material", "Supplier lot", "Site"])
    for use in selectors.recall_list(lot):
        writer.writerow([use.batch_number, use.patient_coi, use.quantity, lot.material.unit,
                         use.first_used.isoformat(), use.last_used.isoformat(),
                         use.consumptions, lot.material.code, lot.supplier_lot, lot.site.code])
    return response


@login_required
@permission_required(VIEW_LOTS, raise_exception=True)
def batch_genealogy(request):
    form = BatchGenealogyForm(request.GET or None)
    uses = []
    if form.is_valid():
        uses = selectors.lots_used_by_batch(
            request.user, batch_number=form.cleaned_data["batch_number"].strip(),
            patient_coi=form.cleaned_data["patient_coi"].strip())
    return render(request, "reagents/batch_genealogy.html",
                  {"form": form, "uses": uses, "searched": form.is_bound})



@login_required
@permission_required("reagents.view_material", raise_exception=True)
def material_list(request):
    page = Paginator(selectors.materials(), 50).get_page(request.GET.get("page"))
    return render(request, "reagents/material_list.html", {"page": page})


@login_required
@permission_required("reagents.add_material", raise_exception=True)
def material_create(request):
    form = MaterialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            material = services.create_material(user=request.user, **form.cleaned_data)
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Material {material} added.")
            return redirect("reagents:material-list")
    return render(request, "reagents/material_form.html", {"form": form},
                  status=400 if form.errors else 200)
