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


def insert_with_history(model: type[Model], rows: list[dict], *, user, reason: str,
                        marked_by: tuple[str, object], chunk: int = 500) -> None:
    """Many rows of a tracked model inserted in multi-row INSERTs, with their history rows
    ("+", ``user``, ``reason``) copied by the database from the rows just stored: the same
    rows ``bulk_create_with_history`` writes, without two model instances per row in Python,
    for high-volume streams (a logger's thousands of readings). ``rows`` map field names to
    values; ``marked_by`` (column, value) selects exactly the rows inserted now (e.g. their
    batch), so only they get history."""
    from django.db import connection
    from django.utils import timezone

    if not rows:
        return
    history = model.history.model
    quote, meta = connection.ops.quote_name, model._meta
    names = list(rows[0])  # field names or attnames ("shipment_id")
    fields = [meta.get_field(name) for name in names]
    values = [[field.get_db_prep_save(row[name], connection)
               for name, field in zip(names, fields, strict=True)] for row in rows]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = f"({', '.join(['%s'] * len(fields))})"
    copied = ", ".join(quote(f.column) for f in meta.concrete_fields)
    history_date = history._meta.get_field("history_date").get_db_prep_save(
        timezone.now(), connection)
    marker, marker_value = marked_by
    # Identifiers come from the models' metadata; every value is a parameter.
    with connection.cursor() as cursor:
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
                f"VALUES {', '.join([placeholders] * len(part))}",
                [value for row in part for value in row])
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} ({copied}, "  # noqa: S608
            f"{quote('history_date')}, {quote('history_change_reason')}, "
            f"{quote('history_type')}, {quote('history_user_id')}) "
            f"SELECT {copied}, %s, %s, '+', %s FROM {quote(meta.db_table)} "
            f"WHERE {quote(marker)} = %s ORDER BY {quote(meta.pk.column)}",
            [history_date, reason, user.pk, marker_value])


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
