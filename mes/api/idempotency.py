"""``Idempotency-Key`` for integration POSTs, once for all apps.

The first response for a (user, key) is stored with a fingerprint of the request and
replayed for a repeat. The same key with a different request is a 422; a repeat that
arrives while the first is still running is a 409. A server error frees the key so the
client can retry.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from mes.errors import Conflict, DomainError
from mes.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def _canonical(value):
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "sha256": digest.hexdigest()}
    if hasattr(value, "lists"):  # QueryDict / MultiValueDict
        return {k: [_canonical(v) for v in vs] for k, vs in sorted(value.lists())}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(request) -> str:
    """A keyed hash of the request. Signed writes carry the signer's password in the body:
    a plain SHA-256 of an otherwise guessable body would let anyone who reads the table try
    passwords offline, so the hash is keyed with the installation's secret."""
    payload = {"method": request.method, "path": request.path,
               "data": _canonical(request.data)}
    data = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    key = f"mes.idempotency:{settings.SECRET_KEY}".encode()
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()


def idempotent(handler):
    """Decorate a DRF view method (``post``/``create`` or an action)."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return handler(view, request, *args, **kwargs)
        if len(key) > 255:
            raise DomainError(f"{HEADER} is longer than 255 characters.",
                              code="invalid_idempotency_key")
        print_ = fingerprint(request)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=request.user, key=key, method=request.method,
                    path=request.path[:500], fingerprint=print_,
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.get(user=request.user, key=key)
            if existing.fingerprint != print_:
                raise DomainError(
                    f"This {HEADER} was already used for a different request.",
                    code="idempotency_key_reused", status=422,
                ) from None
            if existing.state == IdempotencyRecord.State.IN_PROGRESS:
                raise Conflict(f"A request with this {HEADER} is still being processed; "
                               "retry shortly.", code="idempotency_in_progress") from None
            response = Response(existing.response_body, status=existing.response_status)
            response["Idempotent-Replayed"] = "true"
            return response

        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - rendered as DRF would, then stored
            try:
                response = view.handle_exception(exc)
            except Exception:
                record.delete()  # an unexpected failure frees the key for a retry
                raise
        if response.status_code >= 500:
            record.delete()
            return response
        record.state = IdempotencyRecord.State.COMPLETED
        record.response_status = response.status_code
        record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
        record.save(update_fields=["state", "response_status", "response_body"])
        return response

    return wrapper
