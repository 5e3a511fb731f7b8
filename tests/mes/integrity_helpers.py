"""What a database owner can do that the application cannot: switch the append-only triggers
off for a moment and rewrite rows with raw SQL."""

from __future__ import annotations

import contextlib

from django.db import connection

from mes.db import install_append_only_triggers


@contextlib.contextmanager
def triggers_off(*tables: str):
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "postgresql":
                # What a superuser can do: replica mode fires no ordinary triggers.
                cursor.execute("SET session_replication_role = replica")
            else:
                for op in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER {qn(f'mes_append_only_{op}_{table}')}")
    try:
        yield
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = origin")
        else:
            install_append_only_triggers(connection, list(tables))


def owner_sql(sql: str, params=(), *, tables: tuple[str, ...] = ()) -> None:
    with triggers_off(*tables), connection.cursor() as cursor:
        cursor.execute(sql, params)
