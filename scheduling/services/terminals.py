"""Registering a suite's terminals and recognising them (21 CFR 11.10(h) device checks).

The registration returns a secret once (the browser keeps it in a cookie, an integration
sends it in a header); only its SHA-256 is stored, so the database does not hold a usable
key. A withdrawn terminal is never recognised again."""

from __future__ import annotations

import hashlib
import secrets

from django.db import IntegrityError, transaction

from mes import audit
from mes.errors import Conflict, DomainError
from mes.models import User
from scheduling.models import Suite, Terminal
from scheduling.services.common import SchedulingRefused, require, require_reason

REGISTER = "scheduling.add_terminal"
WITHDRAW = "scheduling.change_terminal"


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@transaction.atomic
def register_terminal(*, actor: User, suite: Suite, name: str) -> tuple[Terminal, str]:
    """Register a terminal of ``suite``; the secret it returns is shown once."""
    require(actor, REGISTER, "register suite terminals", site=suite.site)
    name = " ".join((name or "").split())
    if not name or len(name) > 64 or "\x00" in name:
        raise DomainError("Name the terminal (at most 64 characters), e.g. “S1 bench left”.",
                          code="invalid", fields={"name": ["Required, at most 64 characters."]})
    if suite.status == Suite.Status.RETIRED:
        raise SchedulingRefused(f"Suite {suite.code} is retired.", code="suite_retired")
    secret = secrets.token_urlsafe(32)
    terminal = Terminal(site_id=suite.site_id, suite=suite, name=name,
                        key_hash=key_hash(secret), registered_by=actor)
    audit.stamp(terminal, user=actor, reason=f"Terminal registered to suite {suite.code}")
    try:
        with transaction.atomic():
            terminal.save()
    except IntegrityError as error:
        raise Conflict(f"A terminal named “{name}” is already registered at "
                       f"{suite.site.code}.", code="duplicate",
                       fields={"name": ["Taken."]}) from error
    return terminal, secret


@transaction.atomic
def withdraw_terminal(*, actor: User, terminal: Terminal, reason: str) -> Terminal:
    require(actor, WITHDRAW, "withdraw suite terminals", site=terminal.site)
    reason = require_reason(reason)
    terminal = Terminal.objects.select_for_update().get(pk=terminal.pk)
    if terminal.status == Terminal.Status.WITHDRAWN:
        return terminal
    terminal.status = Terminal.Status.WITHDRAWN
    terminal.withdrawn_reason = reason
    audit.stamp(terminal, user=actor, reason=reason)
    terminal.save()
    return terminal


def recognise(secret: str | None) -> Terminal | None:
    """The active terminal holding ``secret`` (None for no, a wrong or a withdrawn one)."""
    secret = (secret or "").strip()
    if not secret or len(secret) > 200:
        return None
    return (Terminal.objects.select_related("suite", "site")
            .filter(key_hash=key_hash(secret), status=Terminal.Status.ACTIVE).first())
