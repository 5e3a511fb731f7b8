"""The demo shows a plant in full swing for training, and loads idempotently."""

from __future__ import annotations

import pytest
from django.utils import timezone

from mes import demo as kernel_demo
from mes.models import User
from training import demo, selectors
from training.models import Certification, Qualification, SOPRevision, TrainingRecord
from training.services.gate import check_certified


@pytest.fixture
def loaded(db, roles):
    kernel_demo.load()
    demo.load()


@pytest.mark.req("TRN-DEMO-001:content")
def test_the_demo_shows_every_state_the_gate_knows(loaded):
    lei = User.objects.get(username="operator").sites().get(code="LEI")
    olga = User.objects.get(username="operator")
    omar = User.objects.get(username="operator2")
    assert set(Qualification.objects.values_list("code", flat=True)) == {
        "GOWN-B", "CELL-SEL", "ACT-TRANS", "EXPANSION", "HARVEST-FILL", "CRYO", "VERIFY-2P"}
    assert SOPRevision.objects.filter(status="superseded").count() == 1
    assert SOPRevision.objects.filter(status="draft").count() == 1

    def reasons(person, code):
        return [r.code for r in check_certified(person=person, qualification_codes=[code],
                                                site=lei).reasons]

    assert reasons(olga, "ACT-TRANS") == []  # retrained on revision 2
    assert reasons(olga, "CELL-SEL") == []
    assert reasons(omar, "ACT-TRANS") == ["retraining_required"]
    assert reasons(omar, "HARVEST-FILL") == ["suspended"]
    assert reasons(omar, "CRYO") == ["expired"]
    soon = selectors.expiring_soon(olga, on=timezone.localdate())
    assert [c.qualification.code for c in soon] == ["GOWN-B"]
    awaiting = TrainingRecord.objects.filter(status="awaiting_verification")
    assert sorted(awaiting.values_list("source", flat=True)) == ["lms", "mes"]
    assert TrainingRecord.objects.filter(source="lms").count() == 1
    assert olga.notifications.filter(subject__contains="GOWN-B").exists()


@pytest.mark.req("TRN-DEMO-001:idempotent")
def test_loading_the_demo_twice_changes_nothing(loaded):
    counts = (Certification.objects.count(), TrainingRecord.objects.count(),
              Certification.history.count())
    demo.load()
    assert (Certification.objects.count(), TrainingRecord.objects.count(),
            Certification.history.count()) == counts
