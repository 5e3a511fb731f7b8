"""Create the role groups with their permissions, and install the database triggers that make
the history tables, signatures and security events append-only (PostgreSQL and SQLite).

Later apps' tables are guarded, and later apps' role permissions granted, by the same
functions after every migrate (mes.apps._after_all_migrations)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from mes.db import KERNEL_APPEND_ONLY_TABLES, install_append_only_triggers
from mes.roles import ensure_roles


def forwards(apps, schema_editor):
    for label in ("auth", "contenttypes", "mes"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    ensure_roles(apps, strict=False)
    tables = [m._meta.db_table for m in apps.get_app_config("mes").get_models()
              if m.__name__.startswith("Historical")] + list(KERNEL_APPEND_ONLY_TABLES)
    install_append_only_triggers(schema_editor.connection, tables)


class Migration(migrations.Migration):
    dependencies = [
        ("mes", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
