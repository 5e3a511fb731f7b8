"""Checks every scheduling service shares."""

from __future__ import annotations

from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired


class SchedulingRefused(DomainError):
    """A scheduling action the rules do not allow (the code says which rule)."""

    code = "scheduling_refused"
    status = 409


def require(user, permission: str, action: str, site=None) -> None:
    if not user.has_perm(permission):
        raise PermissionRefused(f"{user.full_name} is not authorised to {action}.")
    if site is not None and not user.has_site(site):
        raise PermissionRefused(f"{user.full_name} has no access to site {site.code}.")


def require_reason(reason: str, what: str = "A reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired(f"{what} is required.", fields={"reason": ["Required."]})
    return reason
