"""API responses are never cached. Session lifetime: an idle timeout that background polling
does not reset, and an absolute lifetime after which the person logs in again whatever they
did."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

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
            if not is_background(request):
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


class ApiNoStoreMiddleware:
    """API responses carry personal and GMP data: no browser or proxy may keep a copy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            add_never_cache_headers(response)
        return response
