"""Certification decisions and the training history tables are append-only in the database."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from mes.db import tables_with_append_only_triggers
from tests.training.factories import certified
from training.models import CertificationDecision


@pytest.mark.req("TRN-CERT-001:append-only")
def test_training_history_and_decisions_carry_the_append_only_triggers(db):
    guarded = tables_with_append_only_triggers(connection)
    for table in ("training_certificationdecision", "training_historicalcertification",
                  "training_historicaltrainingrecord", "training_historicalsoprevision",
                  "training_historicalqualification"):
        assert table in guarded, table


@pytest.mark.req("TRN-CERT-001:append-only")
def test_a_decision_cannot_be_rewritten_with_raw_sql(operator, trainer, site, cell_selection):
    cert = certified(operator, cell_selection, site)
    decision = CertificationDecision.objects.create(
        certification=cert, site=site, action="grant", reason="Passed", decided_by=trainer)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE training_certificationdecision SET reason = %s WHERE id = %s",
                       ["Forged", decision.pk])
    decision.refresh_from_db()
    assert decision.reason == "Passed"
