"""The audit-trail page of any record: field-level changes, filterable, exportable as CSV."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render

from mes import audit_trail
from mes.errors import DomainError, PermissionRefused
from mes.forms import AuditFilterForm
from mes.services.security import client_address

AUDIT_PAGE_SIZE = 50  # versions a page


def _reveal(request, record, pk):
    """For a restricted record (a clinical identity): refuse without the permission, ask
    the purpose, and log the view. Returns the purpose page to show instead, or None."""
    purpose = request.GET.get("purpose", "")
    try:
        audit_trail.reveal_history(request.user, record, pk, purpose=purpose,
                                   remote_addr=client_address(request))
    except PermissionRefused as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        response = render(request, "mes/audit_trail_purpose.html", {
            "label": record.model._meta.verbose_name, "error": error.message if purpose else "",
        }, status=400 if purpose else 200)
        response["Cache-Control"] = "no-store"
        return response
    return None


@login_required
@permission_required("mes.view_audit_trail", raise_exception=True)
def record_audit_trail(request, app_label: str, model_name: str, pk: int):
    record = audit_trail.history_visible_to(request.user, app_label, model_name, pk)
    model, zone, zone_name = record.model, record.zone, record.zone_name
    restricted = audit_trail.is_restricted(model)
    if restricted and (asking := _reveal(request, record, pk)) is not None:
        return asking
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    label = f"{model._meta.verbose_name} {record.latest.instance}"
    if request.GET.get("format") == "csv":
        # The export is the whole (filtered) trail, so it diffs every version.
        changes = audit_trail.field_changes(model, record.rows)
        filtered = audit_trail.filter_changes(changes, zone=zone, **filters)
        response = HttpResponse(audit_trail.as_csv(filtered, zone, zone_name),
                                content_type="text/csv; charset=utf-8")
        filename = f"audit-trail-{app_label}-{model_name}-{pk}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        if restricted:
            response["Cache-Control"] = "no-store"
        return response
    page = audit_trail.version_page(record, number=request.GET.get("page"),
                                    per_page=AUDIT_PAGE_SIZE, **filters)
    query = request.GET.copy()
    query.pop("page", None)
    response = render(request, "mes/audit_trail.html", {
        "label": label, "changes": page.changes, "page": page, "matching": page.matching,
        "total": page.total, "form": form, "filter_query": query.urlencode(),
        "zone": zone, "zone_name": zone_name,
        "fields": audit_trail.field_names(model),
        "csv_query": request.GET.copy().urlencode(),
        "restricted": restricted,
    })
    if restricted:
        response["Cache-Control"] = "no-store"
    return response
