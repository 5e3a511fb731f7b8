"""The application's database role: least privilege, proven on PostgreSQL itself.

The role is created by the same command production runs (grant_app_role), then each statement
an attacker with the application's credentials would try is run on a connection as that role.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from mes.db import append_only_tables
from mes.dbroles import table_privileges

pytestmark = [pytest.mark.postgres]

INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture(scope="session")
def app_role_name(django_db_setup, django_db_blocker):
    """A role of this test database's own (roles are shared by the whole cluster), granted
    once by the same command production runs, and committed."""
    with django_db_blocker.unblock():
        role = f"mes_app_{connection.settings_dict['NAME']}"[:63]
        call_command("grant_app_role", role=role, verbosity=0)
    return role


class _Rollback(Exception):
    pass


class AppRole:
    """Runs statements as the application's role (SET ROLE) inside a savepoint that is always
    rolled back, so a test can try what an attacker would and leave nothing behind."""

    def __init__(self, name):
        self.name = name

    def execute(self, sql: str, params=None) -> list:
        rows: list = []
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'SET ROLE "{self.name}"')
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
                raise _Rollback
        except _Rollback:
            pass
        return rows

    def refused(self, sql: str) -> str | None:
        """The SQLSTATE of the refusal, or None if the statement ran."""
        try:
            self.execute(sql)
        except DatabaseError as exc:
            return getattr(exc.__cause__, "sqlstate", "unknown")
        return None


@pytest.fixture
def app_role(app_role_name, db):
    return AppRole(app_role_name)


@pytest.mark.req("FND-DB-001")
def test_the_app_role_is_neither_superuser_nor_owner(app_role):
    row = app_role.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication "
        "FROM pg_roles WHERE rolname = current_user")[0]
    assert row == (False, False, False, False, False)
    owned = app_role.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        "AND tableowner = current_user")[0][0]
    assert owned == 0


@pytest.mark.req("FND-DB-002")
@pytest.mark.parametrize("table", ["mes_electronicsignature", "mes_historicalsite",
                                   "reagents_stockentry", "custody_custodyevent",
                                   "training_certificationdecision", "mes_securityevent",
                                   "custody_clinicalidentityaccess"])
def test_append_only_tables_allow_only_select_and_insert(app_role, table):
    assert app_role.refused(f"SELECT count(*) FROM {table}") is None
    assert app_role.refused(f"UPDATE {table} SET id = id WHERE false") == INSUFFICIENT_PRIVILEGE
    assert app_role.refused(f"DELETE FROM {table} WHERE false") == INSUFFICIENT_PRIVILEGE
    privileges = app_role.execute(
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = current_user AND table_name = %s", [table])
    assert {p for (p,) in privileges} == {"SELECT", "INSERT"}


@pytest.mark.req("FND-DB-002")
def test_every_append_only_table_is_granted_select_and_insert_only(app_role):
    rows = app_role.execute(
        "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
        "FROM information_schema.role_table_grants WHERE grantee = current_user "
        "GROUP BY table_name")
    granted = dict(rows)
    tables = append_only_tables()
    assert {t: granted.get(t) for t in tables} == dict.fromkeys(tables, "INSERT,SELECT")


@pytest.mark.req("FND-DB-003")
@pytest.mark.parametrize("table", ["mes_site", "mes_user", "deviations_deviation",
                                   "reagents_reagentlot", "custody_patient"])
def test_gmp_tables_have_no_delete(app_role, table):
    assert app_role.refused(f"DELETE FROM {table} WHERE false") == INSUFFICIENT_PRIVILEGE
    assert app_role.refused(f"UPDATE {table} SET id = id WHERE false") is None


@pytest.mark.req("FND-DB-003")
def test_no_gmp_table_is_granted_delete(app_role):
    gmp = [t for t, p in table_privileges().items() if "UPDATE" in p]
    deletable = {t for (t,) in app_role.execute(
        "SELECT table_name FROM information_schema.role_table_grants "
        "WHERE grantee = current_user AND privilege_type = 'DELETE'")}
    assert gmp and deletable.isdisjoint(gmp)


@pytest.mark.req("FND-DB-004:app-role")
@pytest.mark.parametrize("statement", [
    "TRUNCATE mes_historicalsite",
    "TRUNCATE mes_site CASCADE",
    "ALTER TABLE mes_electronicsignature DISABLE TRIGGER mes_append_only",
    "ALTER TABLE mes_site ADD COLUMN forged text",
    "DROP TRIGGER mes_append_only ON mes_electronicsignature",
    "CREATE TABLE mes_forged (id int)",
    "SET session_replication_role = replica",
])
def test_the_app_role_cannot_truncate_alter_disable_triggers_or_replicate(app_role, statement):
    assert app_role.refused(statement) in {INSUFFICIENT_PRIVILEGE, "42501"}


@pytest.mark.req("FND-DB-004:owner")
def test_the_same_statements_run_as_the_owner(db):
    # the owner is not stopped by privileges: the seal is what catches the owner
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE mes_electronicsignature DISABLE TRIGGER mes_append_only")
        cursor.execute("ALTER TABLE mes_electronicsignature ENABLE TRIGGER mes_append_only")


@pytest.mark.req("FND-DB-005:idempotent", "FND-DB-005:take-back")
def test_granting_twice_is_idempotent_and_takes_back_what_is_no_longer_allowed(app_role):
    role = app_role.name
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT DELETE ON mes_electronicsignature TO "{role}"')
    call_command("grant_app_role", role=role, verbosity=0)
    call_command("grant_app_role", role=role, verbosity=0)
    assert app_role.refused("DELETE FROM mes_electronicsignature WHERE false") \
        == INSUFFICIENT_PRIVILEGE


@pytest.mark.req("FND-DB-005:migrate")
def test_migrate_runs_as_the_owner_and_grants_the_app_role_again_afterwards(monkeypatch,
                                                                            settings):
    from contextlib import contextmanager

    from django.core.management.commands.migrate import Command as DjangoMigrate

    from mes.management.commands import migrate

    calls = []

    @contextmanager
    def as_owner(alias):
        calls.append(("owner", alias))
        yield
        calls.append(("back to the app role", alias))

    monkeypatch.setattr(migrate, "as_owner", as_owner)
    monkeypatch.setattr(DjangoMigrate, "handle",
                        lambda self, *args, **options: calls.append(("migrate",
                                                                     options["database"])))
    monkeypatch.setattr(migrate, "grant_app_role",
                        lambda **kwargs: calls.append(("grant", kwargs["role"], kwargs["alias"])))
    settings.MIGRATION_DATABASE = {"NAME": "owner"}
    settings.APP_DATABASE_ROLE = "mes_app"
    call_command("migrate", verbosity=0)
    assert calls == [("owner", "default"), ("migrate", "default"),
                     ("grant", "mes_app", "default"), ("back to the app role", "default")]
