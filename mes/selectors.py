"""Reads shared by views, the API and other apps."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from mes.models import AccessChange, ElectronicSignature, Notification, SecurityEvent, User


def access_history(user: User) -> QuerySet[AccessChange]:
    from django.contrib.contenttypes.models import ContentType

    signatures = ElectronicSignature.objects.filter(
        content_type=ContentType.objects.get_for_model(AccessChange)
    )
    return (
        AccessChange.objects.filter(user=user)
        .select_related("role", "site", "requested_by")
        .prefetch_related(Prefetch("signatures", queryset=signatures))
        .order_by("-requested_at", "-pk")
    )


def recent_security_events(limit: int = 20) -> QuerySet[SecurityEvent]:
    return SecurityEvent.objects.select_related("user").order_by("-occurred_at", "-pk")[:limit]


def recent_signatures_by(user: User, limit: int = 10) -> QuerySet[ElectronicSignature]:
    return (ElectronicSignature.objects.filter(signer=user)
            .select_related("content_type").order_by("-signed_at", "-pk")[:limit])


def inbox(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")


def integrity_status() -> dict:
    """The last seal, the last verification and the last integrity check (security page)."""
    from mes.models import AuditSeal, IntegrityRun

    runs = IntegrityRun.objects.select_related("run_by")
    return {
        "last_seal": AuditSeal.objects.order_by("-number").first(),
        "integrity_runs": [
            (IntegrityRun.Kind.AUDIT_TRAIL.label,
             runs.filter(kind=IntegrityRun.Kind.AUDIT_TRAIL).first()),
            (IntegrityRun.Kind.INTEGRITY_CHECK.label,
             runs.filter(kind=IntegrityRun.Kind.INTEGRITY_CHECK).first()),
        ],
    }
