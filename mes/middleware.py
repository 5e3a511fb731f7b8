"""API responses are never cached. Session lifetime: an idle timeout that background polling
does not reset, and an absolute lifetime after which the person logs in again whatever they
did."""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)

LAST_ACTIVITY = "mes_last_activity"
LOGIN_AT = "mes_login_at"


def is_background(request) -> bool:
    return request.headers.get(settings.BACKGROUND_REQUEST_HEADER) == "1"


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            if LOGIN_AT not in request.session:
                start_session_clock(request)
            last = request.session.get(LAST_ACTIVITY, now)
            idle = now - last > settings.SESSION_IDLE_MINUTES * 60
            expired = now - request.session[LOGIN_AT] > settings.SESSION_ABSOLUTE_HOURS * 3600
            if idle or expired:
                logout(request)
                return self._to_login(request, "idle" if idle else "expired")
            if not is_background(request) and now - last >= settings.SESSION_ACTIVITY_RESOLUTION:
                # At most one session write a minute: the clock is then up to a minute early,
                # which only ever shortens an idle session, never lengthens it. At the same
                # pace, a session of an account locked since (failed signatures elsewhere,
                # an attack on the password) ends, as the account's API token already has.
                from mes.services.security import is_locked

                if is_locked(request.user.get_username()):
                    logout(request)
                    return self._to_login(request, "locked")
                request.session[LAST_ACTIVITY] = now
        response = self.get_response(request)
        if (request.headers.get("HX-Request") == "true" and response.status_code == 302
                and response["Location"].startswith(reverse(settings.LOGIN_URL))):
            # htmx would swap the login page into a fragment: send the whole page there.
            redirect_to = response["Location"]
            response = HttpResponse(status=204)
            response["HX-Redirect"] = redirect_to
        return response

    def _to_login(self, request, why: str):
        login_url = f"{reverse(settings.LOGIN_URL)}?timeout={why}"
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "session_expired", "message": "Your session ended; log in again.",
                 "fields": {}}, status=401)
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=204)
            response["HX-Redirect"] = login_url
            return response
        return redirect(f"{login_url}&next={request.get_full_path()}")


def start_session_clock(request) -> None:
    """Called on login: the absolute lifetime and the idle clock start now."""
    now = time.time()
    request.session[LOGIN_AT] = now
    request.session[LAST_ACTIVITY] = now


class ApiGuardMiddleware:
    """In front of every request: what no record means is refused before any view sees it,
    and the API always answers in its error body.

    * a NUL character in the query string (a key or a value) is a 400, not a database error;
    * an API body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 before it is read;
    * an API view's unexpected exception is a JSON body (Django would render HTML);
    * API responses carry personal and GMP data: no browser or proxy may keep a copy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from mes.api.errors import error_response

        api = request.path.startswith("/api/")
        if "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
            response = error_response(
                request, 400, "invalid_characters",
                "The address contains a NUL character, which no search or record may hold.")
        elif api and _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
            response = error_response(request, 413, "too_large",
                                      f"The request body is larger than {limit} KiB.")
        else:
            response = self.get_response(request)
        if api:
            add_never_cache_headers(response)
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        from mes.api.errors import error_response

        if isinstance(exception, RequestDataTooBig):
            return error_response(request, 413, "too_large", "The request body is too large.")
        if isinstance(exception, SuspiciousOperation):
            return error_response(request, 400, "bad_request", "The request is not valid.")
        logger.exception("Unexpected error in %s %s", request.method, request.path)
        return error_response(request, 500, "server_error",
                              "Something went wrong on our side; nothing was saved. "
                              "The error is logged for IT.")


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
