from mes.models.access import AccessChange
from mes.models.base import (
    AppendOnly,
    GMPModel,
    Signable,
    SiteScopedQuerySet,
    TrackedModel,
)
from mes.models.idempotency import IdempotencyRecord
from mes.models.integrity import AuditSeal, AuditSealLeaves, IntegrityRun
from mes.models.notifications import Notification
from mes.models.people import Site, SiteUserObjectPermission, User
from mes.models.security import SecurityEvent
from mes.models.signatures import ElectronicSignature, Meaning

__all__ = [
    "AccessChange", "AppendOnly", "AuditSeal", "AuditSealLeaves", "IntegrityRun",
    "ElectronicSignature", "GMPModel", "IdempotencyRecord",
    "Meaning", "Notification", "SecurityEvent", "Signable", "Site", "SiteScopedQuerySet",
    "SiteUserObjectPermission",
    "TrackedModel", "User",
]
