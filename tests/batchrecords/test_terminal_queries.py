"""The terminal's step page reads a fixed number of queries however long the procedure is
(issue 12: from 10 to 400 steps)."""

from __future__ import annotations

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batchrecords.models import Batch
from batchrecords.services.batches import open_batch
from mes import audit
from tests.batchrecords.test_terminal import terminal_client
from tests.batchrecords.world import DOCUMENT, approved_version
from tests.custody.factories import order_for


def document_with(steps: int) -> dict:
    """A procedure of ``steps`` steps in eight operations, each with a number and a choice."""
    document = copy.deepcopy(DOCUMENT)
    per = -(-steps // 8)
    document["title"] = f"{steps} steps"
    document["operations"] = [
        {"code": f"OP{o}", "name": f"Operation {o}", "steps": [
            {"code": f"S{n:03d}", "title": f"Step {n}", "instructions": "Do **this** now.",
             "expected_minutes": 5,
             "fields": [
                 {"key": f"reading_{n}", "label": "Reading", "kind": "number", "unit": "mL",
                  "alert_low": 1, "alert_high": 2},
                 {"key": f"check_{n}", "label": "Checked", "kind": "yes_no"},
             ]}
            for n in range(o * per + 1, min(steps, (o + 1) * per) + 1)]}
        for o in range(8) if o * per < steps]
    return document


def batch_with_steps(world, steps: int) -> Batch:
    """Another patient's batch, made under an approved version of ``steps`` steps."""
    approved_version(author=world.supervisor, approver=world.qa, site=world.site,
                     document=document_with(steps))
    patient = order_for(world.planner, manufacturing_site=world.site,
                        ordering_site=world.clinical, initials=f"N{steps % 10}",
                        hospital_record_number=f"H-{steps}").patient
    with audit.acting_as(world.supervisor):
        return open_batch(actor=world.supervisor, patient=patient, automatic=True)


@pytest.mark.req("EBR-TERM-009:queries")
def test_the_step_page_reads_the_same_number_of_queries_with_10_and_400_steps(world):
    counted = []
    for steps in (10, 400):
        batch = batch_with_steps(world, steps)
        assert batch.steps.count() == steps
        run = batch.steps.get(sequence=5)
        client = terminal_client(world)
        page = reverse("batchrecords:terminal-step", args=[batch.pk, run.pk])
        assert client.get(page).status_code == 200  # warm: the session, content types
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        counted.append(len(queries))

    assert counted[0] == counted[1], counted
