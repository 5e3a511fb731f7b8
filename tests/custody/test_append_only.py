"""Custody's events, refusals, access log, timeline and readings refuse UPDATE and DELETE
in the database, as the kernel guards every AppendOnly table."""

import pytest
from django.db import DatabaseError, connection, transaction

from custody.models import (
    ClinicalIdentityAccess,
    CustodyEvent,
    ExcursionDeviation,
    OrderStatusChange,
    ReadingBatch,
    ScanRefusal,
    TemperatureReading,
)
from mes.db import append_only_tables, install_triggers_after_migrate

APPEND_ONLY = [ClinicalIdentityAccess, CustodyEvent, ExcursionDeviation, OrderStatusChange,
               ReadingBatch, ScanRefusal, TemperatureReading]


@pytest.mark.req("COI-EVT-001:append-only")
def test_custody_records_are_declared_append_only():
    tables = set(append_only_tables())
    assert {m._meta.db_table for m in APPEND_ONLY} <= tables


@pytest.mark.req("COI-EVT-001:append-only")
def test_a_signed_custody_event_cannot_be_rewritten_with_sql(operator, password, patient,
                                                             clinical_site):
    from custody.services.events import Handoff, record_custody_event

    # given the triggers migrate installs, and a recorded handoff
    install_triggers_after_migrate(None)
    event = record_custody_event(actor=operator, password=password, handoff=Handoff(
        patient=patient, site=clinical_site, kind="collected", container_id="BAG-1",
        label_scan=patient.isbt.barcode_data))
    # when someone edits or removes it with SQL, then the database refuses
    for sql in ("UPDATE custody_custodyevent SET container_id = 'BAG-2' WHERE id = %s",
                "DELETE FROM custody_custodyevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert CustodyEvent.objects.get().container_id == "BAG-1"
