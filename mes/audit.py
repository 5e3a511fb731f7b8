"""The audit trail's plumbing: who is acting, why, and the guarded bulk paths.

django-simple-history records every save. This module makes sure each history row names a
person (the request's user, an explicitly stamped user, or the named system user in Celery
tasks) and carries the reason for change that GMP records require after creation.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from simple_history import utils as history_utils

if TYPE_CHECKING:
    from django.db.models import Model

_actor: contextvars.ContextVar = contextvars.ContextVar("mes_actor", default=None)
_bulk_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("mes_bulk", default=False)


@contextlib.contextmanager
def acting_as(user) -> Iterator[None]:
    """Attribute every history row written inside the block to ``user``."""
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor():
    return _actor.get()


def get_history_user(instance=None, request=None, **kwargs):
    """simple-history's ``get_user`` hook: the request's user, else the acting user."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return _actor.get()


def system_user():
    """The named account that Celery tasks act as; it can never log in."""
    from mes.models import User

    user, created = User.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"full_name": "MES system (scheduled tasks)", "is_active": True},
    )
    if created:
        user.set_unusable_password()
        user._change_reason = "System account created"
        user.save(update_fields=["password"])
    return user


def stamp(record: Model, *, user, reason: str = "") -> Model:
    """Attach the acting user and reason that the next save's history row will carry."""
    record._history_user = user
    record._change_reason = reason
    return record


def bulk_allowed() -> bool:
    return _bulk_allowed.get()


@contextlib.contextmanager
def _allow_bulk() -> Iterator[None]:
    token = _bulk_allowed.set(True)
    try:
        yield
    finally:
        _bulk_allowed.reset(token)


def bulk_create_with_history(objs: Iterable[Model], model: type[Model], *, user, reason: str = ""):
    """The only bulk insert allowed on tracked models: it writes their history rows too."""
    with _allow_bulk():
        return history_utils.bulk_create_with_history(
            list(objs), model, default_user=user, default_change_reason=reason or None
        )


def bulk_update_with_history(objs: Iterable[Model], model: type[Model], fields: list[str], *,
                             user, reason: str):
    """The only bulk update allowed on tracked models: history rows with user and reason."""
    from mes.errors import ReasonForChangeRequired

    if not (reason or "").strip():
        raise ReasonForChangeRequired("A reason for change is required.")
    with _allow_bulk():
        return history_utils.bulk_update_with_history(
            list(objs), model, fields, default_user=user, default_change_reason=reason
        )
