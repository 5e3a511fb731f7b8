"""``migrate`` as the owner: with MIGRATION_DATABASE_URL set, the schema changes run on the
owner's role, and the application's role gets its grants again afterwards."""

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate

from mes.dbroles import as_owner, grant_app_role


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        database = options["database"]
        with as_owner(database):
            result = super().handle(*args, **options)
            if settings.MIGRATION_DATABASE and settings.APP_DATABASE_ROLE:
                grant_app_role(role=settings.APP_DATABASE_ROLE,
                               password=settings.DATABASES[database].get("PASSWORD") or None,
                               alias=database)
        return result
