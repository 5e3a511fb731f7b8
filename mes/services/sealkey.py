"""The installation's Ed25519 key that signs audit seals.

It lives in a file outside the database (``AUDIT_SEAL_KEY_FILE``), readable by the application
only, so that whoever owns the database cannot re-sign a seal they rewrote. It is created on
first use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings


def _key_path() -> Path:
    return Path(settings.AUDIT_SEAL_KEY_FILE)


def installation_key() -> Ed25519PrivateKey:
    path = _key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        try:
            # O_EXCL: two processes starting at once keep the first key, never two.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def key_id(key: Ed25519PrivateKey | None = None) -> str:
    public = (key or installation_key()).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(public).hexdigest()[:16]


def sign(message: bytes) -> str:
    return installation_key().sign(message).hex()


def signature_is_valid(message: bytes, signature_hex: str) -> bool:
    try:
        installation_key().public_key().verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
