"""Login, logout, the role-aware home page, security events, health."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from mes import selectors
from mes.forms import LoginForm
from mes.middleware import start_session_clock
from mes.models import SecurityEvent
from mes.tasks import HEARTBEAT_KEY
from mes.ui import home_panels


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        from mes.services.security import client_throttled

        if client_throttled(request, request.POST.get("username", "")[:150]):
            # An unbound form: validating the posted one would try the password.
            form = self.get_form_class()(request, initial={
                "username": request.POST.get("username", "")[:150]})
            form.cleaned_data = {}
            form.add_error(None, "Too many failed logins for different accounts from this "
                                 "terminal. If you have not logged in on it before, wait a "
                                 "few minutes or use another terminal; QA can see why.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        from mes.services.security import remember_device

        response = super().form_valid(form)
        start_session_clock(self.request)
        remember_device(self.request, response, form.get_user().username)
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["timeout"] = self.request.GET.get("timeout")
        context["demo"] = settings.DEMO
        return context


@login_required
def home(request):
    user = request.user
    context = {
        "sites": user.sites(),
        "recent_signatures": selectors.recent_signatures_by(user),
        "recent_access": selectors.access_history(user)[:5],
        "panels": home_panels(request),
    }
    if user.has_perm("mes.view_securityevent"):
        context["security_events"] = selectors.recent_security_events(limit=10)
    return render(request, "mes/home.html", context)


@login_required
@permission_required("mes.view_securityevent", raise_exception=True)
def security_events(request):
    events = SecurityEvent.objects.select_related("user").order_by("-occurred_at", "-pk")
    kind = request.GET.get("kind", "")
    if kind in SecurityEvent.Kind.values:
        events = events.filter(kind=kind)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "mes/security_events.html",
                  {"page": page, "kinds": SecurityEvent.Kind.choices, "kind": kind,
                   **selectors.integrity_status()})


@login_required
@require_POST
@permission_required("mes.run_integrity_check", raise_exception=True)
def integrity_check(request):
    from mes.tasks import run_integrity_check

    try:
        run_integrity_check.delay(request.user.pk)
    except OperationalError:
        messages.error(request, "The background worker's queue does not answer, so the "
                                "integrity check could not start. Try again, or tell IT.")
    else:
        messages.success(request, "The integrity check has started; its result shows here "
                                  "when it finishes.")
    return redirect("security-events")


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, connection.vendor
    except Exception as exc:  # noqa: BLE001 - health reports any failure
        return False, type(exc).__name__


def _check_redis() -> tuple[bool, str]:
    if not settings.REDIS_URL:
        # The demo runs on the embedded broker; a production deployment sets REDIS_URL.
        return True, "not used: REDIS_URL is not set (embedded broker)"
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


def _check_worker() -> tuple[bool, str]:
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__
    if not beat:
        return False, "no heartbeat from a Celery worker"
    age = (timezone.now() - timezone.datetime.fromisoformat(beat)).total_seconds()
    if age > settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS:
        return False, f"last heartbeat {int(age)} s ago"
    return True, f"last heartbeat {int(age)} s ago"


@never_cache
@require_GET
def health(request):
    checks = {}
    for name, check in (("database", _check_database), ("redis", _check_redis),
                        ("celery_worker", _check_worker)):
        ok, detail = check()
        checks[name] = {"ok": ok, "detail": detail}
    healthy = all(c["ok"] for c in checks.values())
    if not request.user.is_authenticated:
        # A load balancer needs only up or down; what runs where is for signed-in people.
        return JsonResponse({"status": "up" if healthy else "down"},
                            status=200 if healthy else 503)
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks},
                        status=200 if healthy else 503)
