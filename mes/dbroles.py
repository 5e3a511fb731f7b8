"""Least privilege in the database: the application's role, and the owner's for migrations.

The web server and the Celery workers connect with ``DATABASE_URL`` as a role that owns
nothing: it may only SELECT and INSERT on the append-only tables, never DELETE a GMP record,
and can neither TRUNCATE, ALTER, disable a trigger nor set ``session_replication_role``.
Migrations (and these grants) run as the owner, from ``MIGRATION_DATABASE_URL``, which names
the same database with the owner's role. Without ``MIGRATION_DATABASE_URL`` one role does both
(the SQLite demo, a developer's database).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.apps import apps as live_apps
from django.conf import settings
from django.db import connections, transaction

from mes.db import append_only_tables

_CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")
# Tables of the framework the application reads but never writes.
READ_ONLY_TABLES = ("django_migrations",)


@contextlib.contextmanager
def as_owner(alias: str = "default") -> Iterator[None]:
    """Run the block on the owner's credentials when MIGRATION_DATABASE_URL names them.

    The database name is kept, so a test database (``test_…``) stays the one migrated."""
    owner = getattr(settings, "MIGRATION_DATABASE", None)
    connection = connections[alias]
    if not owner or connection.vendor != "postgresql":
        yield
        return
    saved = {key: connection.settings_dict.get(key) for key in _CREDENTIALS}
    connection.close()
    connection.settings_dict.update({key: owner.get(key) for key in _CREDENTIALS})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def table_privileges(apps=live_apps) -> dict[str, str]:
    """What the application role may do on each of our tables (other tables: full DML)."""
    from mes.models.base import GMPModel

    privileges = {}
    for model in apps.get_models(include_auto_created=True):
        if issubclass(model, GMPModel):
            privileges[model._meta.db_table] = "SELECT, INSERT, UPDATE"
    for table in append_only_tables(apps):
        privileges[table] = "SELECT, INSERT"
    for table in READ_ONLY_TABLES:
        privileges[table] = "SELECT"
    return privileges


def grant_app_role(*, role: str, password: str | None = None, alias: str = "default") -> list[str]:
    """Create (or bring back in line) the application's role and its grants, idempotently.

    Everything is revoked first and granted again in one transaction, so a table that moved
    from operational to GMP or append-only loses the privileges it no longer may have."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return []
    qn = connection.ops.quote_name
    statements: list[str] = []
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        attributes = ("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                      "NOINHERIT")
        if password:
            cursor.execute(f"{verb} ROLE {qn(role)} WITH {attributes} PASSWORD %s", [password])
        else:
            cursor.execute(f"{verb} ROLE {qn(role)} WITH {attributes}")
        statements.append(f"{verb} ROLE {role}")
        database = qn(connection.settings_dict["NAME"])
        tables = set(connection.introspection.table_names(cursor))
        privileges = table_privileges()
        for sql in (
            f"GRANT CONNECT ON DATABASE {database} TO {qn(role)}",
            f"REVOKE CREATE ON SCHEMA public FROM {qn(role)}",
            f"GRANT USAGE ON SCHEMA public TO {qn(role)}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {qn(role)}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {qn(role)}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {qn(role)}",
        ):
            cursor.execute(sql)
            statements.append(sql)
        for table in sorted(tables):
            allowed = privileges.get(table, "SELECT, INSERT, UPDATE, DELETE")
            sql = f"GRANT {allowed} ON {qn(table)} TO {qn(role)}"
            cursor.execute(sql)
            statements.append(sql)
    return statements
