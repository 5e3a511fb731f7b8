"""Guard the certification decisions and every history table of this app at the database
level, here as well as after migrate: Django sends post_migrate only to apps with models, so
the kernel's after-migrate hook does not run while the last app (batchrecords) has none."""

from django.db import migrations

from mes.db import install_append_only_triggers

APPEND_ONLY = ("training_certificationdecision",)


def forwards(apps, schema_editor):
    tables = [m._meta.db_table for m in apps.get_app_config("training").get_models()
              if m.__name__.startswith("Historical")] + list(APPEND_ONLY)
    install_append_only_triggers(schema_editor.connection, tables)


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
