"""Security events: every failed login or signature, and every lockout, is recorded for QA;
a lockout also notifies QA reviewers in the app and by e-mail (21 CFR 11.300(d))."""

from __future__ import annotations

import ipaddress
import json
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
        "ip_address": client_address(request),
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
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT reverse proxies the
    address the outermost trusted proxy saw (X-Forwarded-For, counted from the right, so a
    client cannot choose it). IPv6 is written out in full, so that its /64 network (one
    customer's allocation) is a prefix of it. django-axes uses the same function."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                if h.strip()]
        if len(hops) >= count:
            address = hops[-count]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    return parsed.exploded if parsed.version == 6 else str(parsed)


def _client_filter(address: str) -> dict:
    """Failures from the same client: the same IPv4 address, or the same IPv6 /64."""
    if ":" in address:
        return {"ip_address__startswith": address[:19]}  # the first four groups, exploded
    return {"ip_address": address}


def spraying_usernames(address: str) -> int:
    """How many different usernames failed to log in from this client within the window."""
    since = timezone.now() - settings.LOGIN_SPRAY_WINDOW
    return (SecurityEvent.objects
            .filter(kind=SecurityEvent.Kind.LOGIN_FAILED, occurred_at__gte=since,
                    **_client_filter(address))
            .values("username").distinct().count())


# A browser in which a person has logged in before carries a signed cookie naming them
# (OWASP "device cookies"): a throttle against password spraying from an address does not
# stop them, so an attacker cannot lock a shared terminal's people out, nor a plant behind
# one proxy address.
DEVICE_COOKIE = "mes_device"
DEVICE_COOKIE_SALT = "mes.security.device"
DEVICE_COOKIE_PEOPLE = 20


def known_on_this_device(request) -> list[str]:
    try:
        value = request.get_signed_cookie(DEVICE_COOKIE, salt=DEVICE_COOKIE_SALT, default="[]")
        people = json.loads(value)
    except (ValueError, TypeError):
        return []
    return [p for p in people if isinstance(p, str)] if isinstance(people, list) else []


def remember_device(request, response, username: str) -> None:
    people = [p for p in known_on_this_device(request) if p != username]
    people = [username, *people][:DEVICE_COOKIE_PEOPLE]
    response.set_signed_cookie(
        DEVICE_COOKIE, json.dumps(people), salt=DEVICE_COOKIE_SALT,
        max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE)


@transaction.atomic
def client_throttled(request, username: str = "") -> bool:
    """Password spraying (one client trying many accounts) throttles logins from that client
    for people who have not logged in on that browser before. The per-username lockout is
    untouched, so a shared suite terminal where one person mistypes does not lock out the
    others."""
    address = client_address(request)
    if not address or username in known_on_this_device(request):
        return False
    if spraying_usernames(address) < settings.LOGIN_SPRAY_USERNAMES:
        return False
    _serialise(f"throttle:{address}")
    since = timezone.now() - settings.LOGIN_SPRAY_WINDOW
    with audit.acting_as(audit.system_user()):
        # Every throttled attempt is on the record, with the username it tried.
        SecurityEvent.objects.create(
            kind=SecurityEvent.Kind.CLIENT_THROTTLED, username=username[:150],
            detail=(f"Failed logins for {spraying_usernames(address)} different usernames "
                    f"from this client since {since:%H:%M} UTC: a login for an account not "
                    "used on this browser before was refused."),
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
