"""Guard the logbook and every history table of this app at the database level, and make
double booking impossible on PostgreSQL: an exclusion constraint (btree_gist) refuses two
active bookings in the same lane of a suite on overlapping days, however the rows arrive.
SQLite has no exclusion constraints; it serialises writes, and the booking service checks."""

from django.db import migrations

from mes.db import install_append_only_triggers

APPEND_ONLY = ("scheduling_logbookentry",)

EXCLUSION = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE scheduling_booking ADD CONSTRAINT scheduling_booking_no_overlap
    EXCLUDE USING gist (
        suite_id WITH =,
        lane WITH =,
        daterange(start_date, end_date, '[]') WITH &&
    ) WHERE (status IN ('tentative', 'confirmed'));
"""


def forwards(apps, schema_editor):
    tables = [m._meta.db_table for m in apps.get_app_config("scheduling").get_models()
              if m.__name__.startswith("Historical")] + list(APPEND_ONLY)
    install_append_only_triggers(schema_editor.connection, tables)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(EXCLUSION)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scheduling_booking "
                              "DROP CONSTRAINT IF EXISTS scheduling_booking_no_overlap")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
