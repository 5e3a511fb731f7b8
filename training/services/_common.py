"""Small checks the training services share."""

from __future__ import annotations

from mes.errors import PermissionRefused, ReasonForChangeRequired
from mes.models import User


def require_permission(actor: User, permission: str, action: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    return reason
