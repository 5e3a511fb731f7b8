"""Security events: every failed login or signature, and every lockout, is recorded for QA;
a lockout also notifies QA reviewers in the app and by e-mail (21 CFR 11.300(d))."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from mes import audit
from mes.models import SecurityEvent, User
from mes.services.notifications import notify


def _client(request) -> dict:
    if request is None:
        return {"ip_address": "", "user_agent": ""}
    return {
        "ip_address": request.META.get("REMOTE_ADDR", "")[:64],
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
    }


def record_failed_authentication(username: str, request=None) -> SecurityEvent:
    signing = bool(getattr(request, "mes_signature_attempt", False))
    kind = SecurityEvent.Kind.SIGNATURE_FAILED if signing else SecurityEvent.Kind.LOGIN_FAILED
    user = User.objects.filter(username=username).first()
    with audit.acting_as(audit.system_user()):
        return SecurityEvent.objects.create(
            kind=kind, username=username[:150], user=user,
            detail="Wrong password or locked account.", **_client(request),
        )


def _serialise(key: str) -> None:
    """Within the current transaction, one caller at a time per ``key`` (PostgreSQL advisory
    lock; SQLite serialises writers anyway). The security event log is append-only and
    cannot be locked row by row, so "once per period" checks take this lock first."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")[:64] if request is not None else ""


def spraying_usernames(ip_address: str) -> int:
    """How many different usernames failed to log in from this address within the window."""
    since = timezone.now() - settings.LOGIN_SPRAY_WINDOW
    return (SecurityEvent.objects
            .filter(kind=SecurityEvent.Kind.LOGIN_FAILED, ip_address=ip_address,
                    occurred_at__gte=since)
            .values("username").distinct().count())


@transaction.atomic
def client_throttled(request) -> bool:
    """Password spraying (one address trying many accounts) throttles that address for the
    window. The per-username lockout is untouched, so a shared suite terminal where one
    person mistypes their password does not lock out the others."""
    ip_address = client_address(request)
    if not ip_address or spraying_usernames(ip_address) < settings.LOGIN_SPRAY_USERNAMES:
        return False
    _serialise(f"throttle:{ip_address}")
    since = timezone.now() - settings.LOGIN_SPRAY_WINDOW
    if not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CLIENT_THROTTLED,
                                        ip_address=ip_address, occurred_at__gte=since).exists():
        with audit.acting_as(audit.system_user()):
            SecurityEvent.objects.create(
                kind=SecurityEvent.Kind.CLIENT_THROTTLED, username="",
                detail=(f"Failed logins for {spraying_usernames(ip_address)} different "
                        "usernames from this address: logins from it are refused for "
                        f"{int(settings.LOGIN_SPRAY_WINDOW.total_seconds() // 60)} minutes."),
                **_client(request),
            )
    return True


@transaction.atomic
def record_lockout(username: str, request=None) -> SecurityEvent | None:
    """Record a lockout once per cool-off period (axes re-signals on every locked attempt,
    and concurrent failures signal concurrently: the advisory lock makes it exactly once)."""
    _serialise(f"lockout:{username[:150]}")
    since = timezone.now() - (settings.AXES_COOLOFF_TIME or timedelta(days=365))
    if SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOCKOUT, username=username[:150],
                                    occurred_at__gte=since).exists():
        return None
    user = User.objects.filter(username=username).first()
    with audit.acting_as(audit.system_user()):
        event = SecurityEvent.objects.create(
            kind=SecurityEvent.Kind.LOCKOUT, username=username[:150], user=user,
            detail="Locked after repeated failed logins or signatures.", **_client(request),
        )
        # QA of the sites the account works at (all QA when the name matches no account).
        qa = User.objects.filter(groups__name="QA Reviewer", is_active=True)
        if user is not None:
            qa = qa.filter(siteuserobjectpermission__content_object__in=user.sites())
        qa = qa.distinct()
        notify(
            recipients=list(qa),
            subject=f"Account locked: {username}",
            body=(f"The account “{username}” was locked after repeated failed login or "
                  "signature attempts. Review the security events."),
            link="/security/",
        )
    return event


def is_locked(username: str) -> bool:
    from axes.models import AccessAttempt

    return AccessAttempt.objects.filter(
        username=username, failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
    ).exists()


def unlock_account(*, actor: User, user: User, reason: str) -> SecurityEvent:
    """An Administrator lifts a lockout before the cool-off ends; QA sees who and why."""
    from axes.utils import reset

    from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired

    if not actor.has_perm("mes.change_user"):
        raise PermissionRefused(f"{actor.full_name} is not authorised to unlock accounts.")
    if actor.pk == user.pk:
        raise PermissionRefused("Nobody may unlock their own account.")
    if not (reason or "").strip():
        raise ReasonForChangeRequired("A reason is required to unlock an account.",
                                      fields={"reason": ["Required."]})
    if not is_locked(user.username):
        raise DomainError(f"The account {user.username} is not locked.", code="no_change")
    reset(username=user.username)
    with audit.acting_as(actor):
        return SecurityEvent.objects.create(
            kind=SecurityEvent.Kind.UNLOCKED, username=user.username, user=user,
            detail=f"Unlocked by {actor.full_name}: {reason.strip()}",
        )
