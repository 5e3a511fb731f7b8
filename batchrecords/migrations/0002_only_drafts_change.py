"""Only a draft's procedure changes, whatever the application does: on PostgreSQL a trigger
refuses to insert or update an operation, step, material or data field of a version that is
not a draft (the services refuse it first, with version_not_draft; this stops a direct save,
a script or the shell, which the review found could change an approved version)."""

from django.db import migrations

TABLES = {
    "batchrecords_operation": "SELECT status FROM batchrecords_masterrecordversion "
                              "WHERE id = {row}.version_id",
    "batchrecords_step": "SELECT v.status FROM batchrecords_operation o "
                         "JOIN batchrecords_masterrecordversion v ON v.id = o.version_id "
                         "WHERE o.id = {row}.operation_id",
    "batchrecords_stepmaterial": "SELECT v.status FROM batchrecords_step s "
                                 "JOIN batchrecords_operation o ON o.id = s.operation_id "
                                 "JOIN batchrecords_masterrecordversion v ON v.id = o.version_id "
                                 "WHERE s.id = {row}.step_id",
    "batchrecords_datafield": "SELECT v.status FROM batchrecords_step s "
                              "JOIN batchrecords_operation o ON o.id = s.operation_id "
                              "JOIN batchrecords_masterrecordversion v ON v.id = o.version_id "
                              "WHERE s.id = {row}.step_id",
}


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # the demo's SQLite relies on the services' own refusal
    with schema_editor.connection.cursor() as cursor:
        for table, lookup in TABLES.items():
            function = f"{table}_only_in_drafts"
            cursor.execute(f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE new_status text; old_status text;
BEGIN
    {lookup.format(row="NEW")} INTO new_status;
    IF TG_OP = 'UPDATE' THEN
        {lookup.format(row="OLD")} INTO old_status;
    ELSE
        old_status := 'draft';
    END IF;
    IF new_status IS DISTINCT FROM 'draft' OR old_status IS DISTINCT FROM 'draft' THEN
        RAISE EXCEPTION 'mes: % on % is refused: the master record version is not a draft',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;""")
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER only_in_drafts BEFORE INSERT OR UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()")


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS only_in_drafts ON {table}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {table}_only_in_drafts()")


class Migration(migrations.Migration):
    dependencies = [("batchrecords", "0001_master_records")]
    operations = [migrations.RunPython(install, remove)]
