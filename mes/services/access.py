"""User accounts and access changes (EU GMP Annex 11 §12, 21 CFR 11.10(d), (g)).

A role or site grant or revocation is an `AccessChange` record signed by an Administrator
with the meaning *approved*; nobody changes their own access. Accounts are deactivated with
a reason, never deleted, so a username is never reused.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from guardian.shortcuts import assign_perm, remove_perm

from mes import audit
from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired
from mes.models import AccessChange, Meaning, Site, User
from mes.services.signatures import apply_signature, reauthenticate


def _require(actor: User, permission: str, action: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required.", fields={"reason": ["Required."]})
    return reason


def check_access_change(*, actor: User, user: User, action: str, role: Group | None = None,
                        site: Site | None = None, reason: str) -> str:
    """Everything an access change checks before the signature, so the page says why it
    cannot be approved instead of asking for a password (UI.md, Signing); the change checks
    whether the person already holds it again under the lock. Returns the reason."""
    _require(actor, "mes.manage_access", "change access")
    reason = _require_reason(reason)
    if (role is None) == (site is None):
        raise DomainError("Choose either a role or a site.", code="invalid_access_change")
    if action not in AccessChange.Action.values:
        raise DomainError(f"Unknown action “{action}”.", code="invalid_access_change")
    if actor.pk == user.pk:
        raise PermissionRefused("Nobody may change their own access.")
    if site is not None and not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {site} to grant.")
    if not User.objects.visible_to(actor).filter(pk=user.pk).exists():
        raise PermissionRefused(f"{user.full_name} is not a person at your sites.")
    granting = action == AccessChange.Action.GRANT
    holds = (user.groups.filter(pk=role.pk).exists() if role
             else user.sites().filter(pk=site.pk).exists())
    subject = f"the role {role.name}" if role else f"access to {site}"
    if granting and holds:
        raise DomainError(f"{user.full_name} already has {subject}.", code="no_change")
    if not granting and not holds:
        raise DomainError(f"{user.full_name} does not have {subject}.", code="no_change")
    return reason


def change_access(*, actor: User, password: str, user: User, action: str,
                  role: Group | None = None, site: Site | None = None, reason: str,
                  request: HttpRequest | None = None) -> AccessChange:
    """Grant or revoke one role or one site for ``user``, signed by ``actor`` as approved."""
    reason = check_access_change(actor=actor, user=user, action=action, role=role, site=site,
                                 reason=reason)
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        granting = action == AccessChange.Action.GRANT
        holds = (user.groups.filter(pk=role.pk).exists() if role
                 else user.sites().filter(pk=site.pk).exists())
        subject = f"the role {role.name}" if role else f"access to {site}"
        if granting and holds:
            raise DomainError(f"{user.full_name} already has {subject}.", code="no_change")
        if not granting and not holds:
            raise DomainError(f"{user.full_name} does not have {subject}.", code="no_change")

        change = AccessChange(user=user, action=action, role=role, site=site,
                              reason=reason, requested_by=actor)
        audit.stamp(change, user=actor, reason=reason)
        change.save()
        with audit.acting_as(actor):
            if role is not None:
                (user.groups.add if granting else user.groups.remove)(role)
            elif granting:
                assign_perm("mes.view_site", user, site)
            else:
                remove_perm("mes.view_site", user, site)
        user._site_ids = None  # the object's cached site list (User.site_ids) is read again
        apply_signature(signer=signer, record=change, meaning=Meaning.APPROVED, reason=reason)
    return change


@transaction.atomic
def create_user(*, actor: User, username: str, full_name: str, email: str = "",
                password: str, reason: str = "") -> User:
    """Open an account for one person; roles and sites are then granted as access changes."""
    _require(actor, "mes.add_user", "create accounts")
    username = (username or "").strip().lower()
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError(
            f"The username “{username}” is taken or was used before; usernames are never "
            "reused.", code="username_taken", fields={"username": ["Already used."]},
        )
    user = User(username=username, full_name=(full_name or "").strip(), email=email)
    try:
        user.full_clean(exclude=["password"])
        validate_password(password, user)
    except ValidationError as exc:
        fields = getattr(exc, "message_dict", {"password": exc.messages})
        raise DomainError("The account details are not valid.", code="invalid",
                          fields=fields) from exc
    user.set_password(password)
    audit.stamp(user, user=actor, reason=reason or "Account opened")
    user.save()
    return user


@transaction.atomic
def set_user_active(*, actor: User, user: User, active: bool, reason: str) -> User:
    """Deactivate (or reactivate) an account; accounts are never deleted."""
    _require(actor, "mes.change_user", "deactivate accounts")
    reason = _require_reason(reason)
    if actor.pk == user.pk:
        raise PermissionRefused("Nobody may deactivate their own account.")
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        raise DomainError(f"The account is already {'active' if active else 'inactive'}.",
                          code="no_change")
    user.is_active = active
    audit.stamp(user, user=actor, reason=reason)
    user.save(update_fields=["is_active"])
    return user
