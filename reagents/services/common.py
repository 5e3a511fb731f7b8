"""Checks every reagent service shares."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mes import audit
from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired
from reagents.models import LotStatus, LotStatusChange, ReagentLot

# What a quantity column (QUANTITY: 12 digits, 3 after the point) can hold.
QUANTITY_LIMIT = Decimal("1e9")


class ReagentRefused(DomainError):
    """A reagent action the rules do not allow (the code says which rule)."""

    code = "reagent_refused"
    status = 409


def require(user, permission: str, action: str, site=None) -> None:
    if not user.has_perm(permission):
        raise PermissionRefused(f"{user.full_name} is not authorised to {action}.")
    if site is not None and not user.has_site(site):
        raise PermissionRefused(f"{user.full_name} has no access to site {site}.")


def require_reason(reason: str, what: str = "A reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired(f"{what} is required.", fields={"reason": ["Required."]})
    return reason


def positive_quantity(value, field: str = "quantity") -> Decimal:
    quantity = signed_quantity(value, field)
    if quantity <= 0:
        raise DomainError("The quantity must be more than zero.", code="invalid_quantity",
                          fields={field: ["Must be more than zero."]})
    return quantity


def signed_quantity(value, field: str = "quantity") -> Decimal:
    try:
        quantity = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        quantity = None
    if quantity is None or not quantity.is_finite():
        raise DomainError(f"“{value}” is not a quantity.", code="invalid_quantity",
                          fields={field: ["Enter a number."]})
    if quantity != quantity.quantize(Decimal("0.001")) or abs(quantity) >= QUANTITY_LIMIT:
        raise too_big_or_precise(field)
    return quantity


def too_big_or_precise(field: str = "quantity") -> DomainError:
    return DomainError("Quantities have at most three decimals and nine digits.",
                       code="invalid_quantity", fields={field: ["Too precise or too big."]})


def change_status(lot: ReagentLot, target: str, *, user, reason: str,
                  coa_reference: str = "") -> LotStatusChange:
    """Record a status change of ``lot`` (the caller saves the lot in the same transaction)."""
    lot.check_transition(target)
    change = LotStatusChange(site_id=lot.site_id, lot=lot, from_status=lot.status,
                             to_status=target, reason=reason, coa_reference=coa_reference,
                             decided_by=user)
    audit.stamp(change, user=user, reason=reason)
    change.save()
    lot.status = target
    return change


def status_label(status: str) -> str:
    return LotStatus(status).label.lower()
