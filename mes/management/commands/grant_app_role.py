"""Create or update the application's least-privilege database role (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from mes.dbroles import as_owner, grant_app_role


class Command(BaseCommand):
    help = ("Create or update the role the web server and workers connect as: SELECT and INSERT "
            "only on append-only tables, no DELETE on GMP tables, no TRUNCATE or DDL. Runs as "
            "the owner (MIGRATION_DATABASE_URL). The role defaults to DATABASE_URL's user.")

    def add_arguments(self, parser):
        parser.add_argument("--role", default=None)
        parser.add_argument("--database", default="default")
        parser.add_argument("--verbose-grants", action="store_true")

    def handle(self, *args, role=None, database="default", verbose_grants=False, **options):
        if connections[database].vendor != "postgresql":
            self.stdout.write("SQLite has no database roles: nothing to grant (the demo runs "
                              "as one local file; production runs on PostgreSQL).")
            return
        role = role or settings.APP_DATABASE_ROLE
        password = settings.DATABASES[database].get("PASSWORD") or None
        if not role:
            raise CommandError("Name the role (--role), or set MIGRATION_DATABASE_URL so that "
                               "DATABASE_URL's user is the application's role.")
        with as_owner(database):
            owner = connections[database].settings_dict.get("USER")
            if role == owner:
                raise CommandError(f"The application's role must not be the owner ({owner}).")
            statements = grant_app_role(role=role, password=password, alias=database)
        if verbose_grants:
            for sql in statements:
                self.stdout.write(sql)
        self.stdout.write(self.style.SUCCESS(
            f"Role {role}: {len(statements)} grants in line (append-only tables SELECT/INSERT, "
            "GMP tables without DELETE)."))
