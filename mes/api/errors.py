"""One error body everywhere in the API: ``{"code", "message", "fields"}``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mes.errors import DomainError


def _flatten(detail) -> tuple[str, dict]:
    if isinstance(detail, dict):
        fields = {}
        for key, value in detail.items():
            items = value if isinstance(value, list) else [value]
            fields[key] = [str(v) for v in items]
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()
                            if k != "non_field_errors")
        general = fields.pop("non_field_errors", None)
        if general:
            message = " ".join(general) + (f" ({message})" if message else "")
        return message or "The request is not valid.", fields
    if isinstance(detail, list):
        return " ".join(str(d) for d in detail), {}
    return str(detail), {}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
    message, fields = _flatten(getattr(exc, "detail", str(exc)))
    response.data = {"code": code, "message": message, "fields": fields}
    return response


def json_not_found(request, exception=None):
    """404 for URLs outside any view: JSON under /api/, the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "message": "No such endpoint.", "fields": {}},
                            status=status.HTTP_404_NOT_FOUND)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
