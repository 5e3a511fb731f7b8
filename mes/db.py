"""Append-only tables, enforced by the database itself.

History tables (every ``Historical*`` model of our apps) and the models marked `AppendOnly`
(signatures, security events) get row triggers that refuse UPDATE and DELETE, on PostgreSQL
and on SQLite, so not even an administrator with a SQL prompt can rewrite the audit trail.
Row triggers do not fire on TRUNCATE, which PostgreSQL test flushes use.
"""

from __future__ import annotations

from django.apps import apps as live_apps
from django.db import connections

from mes.apps import OUR_APPS

# Append-only models known by table name, for migrations that run on historical models.
KERNEL_APPEND_ONLY_TABLES = ("mes_electronicsignature", "mes_securityevent")

# Every append-only model of every app, in this one place: its label, and the field that says
# when its row was written (None: the row carries no write time of its own; its history row
# does). The history models of our apps are append-only too, written at ``history_date``.
# A model joins by being listed here and marked ``AppendOnly``; a test holds the two, and the
# database's triggers, to exactly this list. The audit seal covers the same tables.
APPEND_ONLY_MODELS: dict[str, str | None] = {
    "mes.electronicsignature": "signed_at",
    "mes.securityevent": "occurred_at",
    "mes.auditseal": "sealed_at",
    "mes.auditsealleaves": None,
    "mes.integrityrun": "finished_at",
    "training.certificationdecision": "decided_at",
    "reagents.lotstatuschange": "decided_at",
    "reagents.stockentry": "recorded_at",
    "deviations.classificationdecision": "recorded_at",
    "deviations.disposition": "recorded_at",
    "deviations.investigation": "recorded_at",
    "deviations.closure": "recorded_at",
    "deviations.comment": "recorded_at",
    "deviations.deviationattachment": "recorded_at",
    "deviations.escalationevent": "recorded_at",
    "custody.custodyevent": "recorded_at",
    "custody.scanrefusal": "scanned_at",
    "custody.clinicalidentityaccess": "accessed_at",
    "custody.orderstatuschange": "changed_at",
    "custody.readingbatch": "received_at",
    "custody.temperaturereading": None,
    "custody.excursiondeviation": "reported_at",
    "scheduling.logbookentry": "recorded_at",
    "scheduling.bookingconfirmation": "confirmed_at",
    "batchrecords.stepvalue": "entered_at",
    "batchrecords.stepscan": "scanned_at",
    "batchrecords.batchexception": "recorded_at",
}
HISTORY_WRITTEN_AT = "history_date"


def is_history_model(model) -> bool:
    return model.__name__.startswith("Historical") and model._meta.app_label in OUR_APPS


def append_only_models(apps=live_apps) -> list:
    """The append-only models (history models included), in a stable order."""
    found = [m for m in apps.get_models()
             if is_history_model(m) or m._meta.label_lower in APPEND_ONLY_MODELS]
    return sorted(found, key=lambda m: m._meta.db_table)


def written_at_field(model) -> str | None:
    if is_history_model(model):
        return HISTORY_WRITTEN_AT
    return APPEND_ONLY_MODELS[model._meta.label_lower]

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION mes_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mes: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def append_only_tables(apps=live_apps) -> list[str]:
    return [model._meta.db_table for model in append_only_models(apps)]


def install_append_only_triggers(connection, tables: list[str]) -> None:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
            for table in tables:
                cursor.execute(
                    f"CREATE OR REPLACE TRIGGER mes_append_only BEFORE UPDATE OR DELETE "
                    f"ON {qn(table)} FOR EACH ROW EXECUTE FUNCTION mes_refuse_change()"
                )
        elif connection.vendor == "sqlite":
            for table in tables:
                for op in ("UPDATE", "DELETE"):
                    name = qn(f"mes_append_only_{op.lower()}_{table}")
                    cursor.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {qn(table)} "
                        f"BEGIN SELECT RAISE(ABORT, 'mes: {op} on {table} is refused: "
                        f"the table is append-only'); END"
                    )
        else:  # pragma: no cover - we support PostgreSQL and SQLite only
            raise RuntimeError(f"No append-only triggers for {connection.vendor}")


def tables_with_append_only_triggers(connection) -> set[str]:
    """Tables that carry our triggers (for the test that every history table is guarded)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT event_object_table FROM information_schema.triggers "
                "WHERE trigger_name = 'mes_append_only' "
                "GROUP BY event_object_table HAVING COUNT(DISTINCT event_manipulation) = 2"
            )
            return {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' "
            "AND name LIKE 'mes_append_only_%' GROUP BY tbl_name HAVING COUNT(*) = 2"
        )
        return {row[0] for row in cursor.fetchall()}


def install_triggers_after_migrate(sender, using="default", **kwargs) -> None:
    """Every migrate (and every test database) ends with all append-only tables guarded."""
    install_append_only_triggers(connections[using], append_only_tables())
