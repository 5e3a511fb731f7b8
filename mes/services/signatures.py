"""The one electronic-signature service (21 CFR 11.50, 11.70, 11.200, 11.300).

Signing is two steps. `reauthenticate` checks the password through Django's `authenticate()`
so django-axes counts every failure toward lockout; it must run *outside* the business
transaction, or a refused attempt would be rolled back and never counted. `apply_signature`
then runs inside the caller's transaction: it checks the signer may sign that record with
that meaning and stores the printed name, UTC time, meaning, reason and the SHA-256 of the
record's canonical content. `sign` does both for the simple case.
"""

from __future__ import annotations

from dataclasses import dataclass

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from mes import audit
from mes.errors import SignatureRefused
from mes.models import ElectronicSignature, Signable, User


def _request_for(request: HttpRequest | None) -> HttpRequest:
    if request is not None:
        return request
    synthetic = HttpRequest()
    synthetic.META["REMOTE_ADDR"] = "127.0.0.1"
    synthetic.META["HTTP_USER_AGENT"] = "mes-service"
    return synthetic


def reauthenticate(*, user: User, password: str, request: HttpRequest | None = None) -> User:
    """Confirm the signer's identity with their password at the time of signing."""
    request = _request_for(request)
    if not user.is_active:
        raise SignatureRefused(f"The account {user.username} is deactivated and cannot sign.")
    request.mes_signature_attempt = True
    credentials = {"username": user.username}
    authenticated = authenticate(request, username=user.username, password=password or "")
    if authenticated is None or authenticated.pk != user.pk:
        if AxesProxyHandler.is_locked(request, credentials):
            raise SignatureRefused(
                f"The account {user.username} is locked after repeated failed attempts. "
                "QA has been notified; ask an administrator to unlock it.",
                code="account_locked",
            )
        raise SignatureRefused(
            "The password is not correct. Nothing was signed.",
            code="wrong_password", fields={"password": ["The password is not correct."]},
        )
    return authenticated


# Checks other apps add to every signature (the training gate: is the signer certified for
# what this signature attests?). Each is ``gate(user, record, meaning)`` and raises
# SignatureRefused. Apps register theirs in AppConfig.ready(); the kernel imports none of them.
_signing_gates: list = []


def register_signing_gate(gate) -> None:
    if gate not in _signing_gates:
        _signing_gates.append(gate)


def apply_signature(*, signer: User, record: Signable, meaning: str,
                    reason: str = "") -> ElectronicSignature:
    """Attach a signature to ``record``; the signer must already be re-authenticated."""
    if record.pk is None:
        raise SignatureRefused("Only a saved record can be signed.")
    record.check_signer(signer, meaning)
    for gate in _signing_gates:
        gate(signer, record, meaning)
    content_type = ContentType.objects.get_for_model(record)
    signature = ElectronicSignature(
        content_type=content_type,
        object_id=record.pk,
        signer=signer,
        printed_name=signer.full_name,
        username=signer.username,
        meaning=meaning,
        reason=(reason or "").strip(),
        record_hash=record.canonical_hash(),
        site=record.signing_site(),
    )
    audit.stamp(signature, user=signer, reason=reason)
    try:
        with transaction.atomic():
            signature.save()
    except IntegrityError as exc:
        raise SignatureRefused(
            f"{signer.full_name} has already signed this {record._meta.verbose_name} "
            f"as “{meaning}”.", code="already_signed", status=409,
        ) from exc
    return signature


def sign(*, user: User, password: str, record: Signable, meaning: str, reason: str = "",
         request: HttpRequest | None = None) -> ElectronicSignature:
    """Re-authenticate ``user`` and sign ``record`` with ``meaning``."""
    signer = reauthenticate(user=user, password=password, request=request)
    with transaction.atomic():
        locked = type(record)._default_manager.select_for_update().get(pk=record.pk)
        return apply_signature(signer=signer, record=locked, meaning=meaning, reason=reason)


@dataclass(frozen=True)
class Verification:
    valid: bool
    detail: str


def verify(signature: ElectronicSignature) -> Verification:
    """Recompute the signed record's hash from the database and compare it."""
    model = signature.content_type.model_class()
    record = model._default_manager.filter(pk=signature.object_id).first() if model else None
    if record is None:
        return Verification(False, "The signed record no longer exists.")
    if record.canonical_hash() != signature.record_hash:
        return Verification(False, "The record was changed after it was signed.")
    return Verification(True, "The record is unchanged since it was signed.")


def verify_against(signature: ElectronicSignature, record) -> Verification:
    """Verify against a record already loaded (lists that show many signatures)."""
    if record.canonical_hash() != signature.record_hash:
        return Verification(False, "The record was changed after it was signed.")
    return Verification(True, "The record is unchanged since it was signed.")


def signatures_for(record) -> list[ElectronicSignature]:
    content_type = ContentType.objects.get_for_model(record)
    return list(
        ElectronicSignature.objects.filter(content_type=content_type, object_id=record.pk)
        .order_by("signed_at", "pk")
    )
