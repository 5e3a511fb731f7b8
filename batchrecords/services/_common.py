"""Checks the master record services share."""

from __future__ import annotations

from batchrecords.models import MasterRecordVersion
from mes.errors import DomainError, NotFound, PermissionRefused, ReasonForChangeRequired
from mes.models import User

AUTHOR = "batchrecords.add_masterrecordversion"
EDIT = "batchrecords.change_masterrecordversion"
APPROVE = "batchrecords.approve_masterrecordversion"
RETIRE = "batchrecords.retire_masterrecordversion"


class VersionNotDraft(DomainError):
    code = "version_not_draft"
    status = 409


def require_permission(actor: User, permission: str, action: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")


def require_site(actor: User, site) -> None:
    if not actor.has_site(site):
        raise NotFound("No such master record.")


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    return reason


def require_draft(version: MasterRecordVersion) -> None:
    """Only a draft is edited: an approved (or reviewed, superseded, retired) version never."""
    if version.status != MasterRecordVersion.Status.DRAFT:
        raise VersionNotDraft(
            f"{version} is {version.get_status_display().lower()}, not a draft: it cannot be "
            "changed. Make a new version from it instead."
        )
