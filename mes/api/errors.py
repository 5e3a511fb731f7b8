"""One error body everywhere in the API: ``{"code", "message", "fields"}``."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from mes.errors import DomainError

logger = logging.getLogger(__name__)


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
    if isinstance(exc, OverflowError | DataError):
        # A date or number beyond what the calendar or the column holds (year 9999 plus a
        # time zone, a day after 31-12-9999): the caller's input, not our failure. Logged,
        # so that a bug of ours (a value too long for its column) does not go unseen.
        logger.warning("Out of range in %s", context.get("request") and
                       context["request"].path, exc_info=exc)
        set_rollback()
        return Response({"code": "out_of_range",
                         "message": "A date or number in the request is out of range.",
                         "fields": {}}, status=status.HTTP_400_BAD_REQUEST)
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


def error_response(request, status_code: int, code: str, message: str, fields=None):
    """The error body under /api/; elsewhere a plain page with the same message."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "message": message, "fields": fields or {}},
                            status=status_code)
    from django.http import HttpResponse
    from django.utils.html import escape

    return HttpResponse(f"<!doctype html><title>{status_code}</title><p>{escape(message)}</p>",
                        status=status_code)


def json_bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(request, 400, "bad_request", "The request is not valid.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(request, 403, "permission_denied",
                              "You are not authorised to do this.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def json_server_error(request):
    if request.path.startswith("/api/"):
        return error_response(request, 500, "server_error",
                              "Something went wrong on our side; the error is logged for IT.")
    from django.views.defaults import server_error

    return server_error(request)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked account: the error body (429) under /api/, the
    lockout page elsewhere."""
    from axes.helpers import get_client_username, get_cool_off
    from django.conf import settings
    from django.shortcuts import render

    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    if request.path.startswith("/api/"):
        return error_response(
            request, 429, "account_locked",
            "The account is locked after repeated failed logins or signatures"
            + (f"; try again in {minutes} minutes or ask an Administrator." if minutes
               else "; ask an Administrator."))
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT,
               "username": get_client_username(request, credentials) or "",
               "cooloff_timedelta": cool_off}
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context,
                  status=settings.AXES_HTTP_RESPONSE_CODE)
