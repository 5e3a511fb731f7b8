"""The one error type the domain raises.

Services raise a `DomainError` subclass with a message a user can act on and a machine code.
Views render it as a form error; the API renders it as a 4xx JSON body
``{"code", "message", "fields"}``.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None,
                 fields: dict[str, list[str]] | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class PermissionRefused(DomainError):
    code = "permission_denied"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class ReasonForChangeRequired(DomainError):
    code = "reason_required"


class HistoryBypassRefused(DomainError):
    """A write path that would skip the audit trail (bulk update, queryset delete)."""

    code = "history_bypass_refused"


class RecordDeletionRefused(DomainError):
    code = "deletion_refused"
    status = 409


class SignatureRefused(DomainError):
    code = "signature_refused"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409
