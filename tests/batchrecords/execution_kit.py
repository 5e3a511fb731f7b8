"""Performing the world's steps as an operator would, and counting what a refusal must not
have written (tests/batchrecords/test_execution*.py)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from batchrecords.models import BatchException, BatchStop, StepRun, StepScan, StepValue
from batchrecords.services.execution import LotScan, perform_step, verify_step
from custody.models import ScanRefusal
from deviations.models import Deviation
from mes import audit
from mes.models import ElectronicSignature
from reagents.models import StockEntry
from scheduling.models import LogbookEntry
from tests.batchrecords.world import run

DEFAULT = object()


def inputs(world, code: str) -> dict:
    """What a careful operator enters and scans at each step of the world."""
    return {
        "R01": {"values": {"seal_intact": "yes"}, "label_scan": world.label},
        "S01": {"values": {"vcc": "1.5", "volume": "100"},
                "lots": [LotScan("MED-TEX", "TX-1")], "equipment_scan": "CS-01"},
        "T01": {"values": {"titer": "50"}},
        "T02": {"values": {}},
        "T03": {"values": {"method": "Pump",
                           "added_at": timezone.localtime(timezone.now(), world.site.zone)
                           .strftime("%Y-%m-%dT%H:%M")},
                "lots": [LotScan("LV-CD19", "VV-1")], "equipment_scan": "BR-01"},
    }[code]


def perform(world, code: str, *, actor=None, revision=None, terminal=DEFAULT, password=None,
            **overrides) -> StepRun:
    step = run(world, code)
    given = {**inputs(world, code), **overrides}
    return perform_step(
        actor=actor or world.operator, password=password or world.password, run=step,
        revision=step.revision if revision is None else revision,
        terminal=world.terminal if terminal is DEFAULT else terminal, **given)


def verify(world, code: str, *, actor=None, terminal=DEFAULT) -> StepRun:
    step = run(world, code)
    return verify_step(actor=actor or world.verifier, password=world.password, run=step,
                       revision=step.revision,
                       terminal=world.terminal if terminal is DEFAULT else terminal)


def finish_stage(world, codes, *, minutes_ago: int) -> None:
    """Perform ``codes`` and date their performance back (the clock of a time window)."""
    for code in codes:
        perform(world, code)
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    for code in codes:
        step = run(world, code)
        step.performed_at = at
        audit.stamp(step, user=world.admin, reason="Test: performed earlier")
        step.save()


def up_to(world, last: str) -> None:
    """Perform every step before ``last`` (T01 and T02 an hour before T03, in its window)."""
    order = ["R01", "S01", "T01", "T02", "T03"]
    for code in order[:order.index(last)]:
        if last != "T03" or code not in ("T01", "T02"):
            perform(world, code)
    if last == "T03":
        finish_stage(world, ["T01", "T02"], minutes_ago=60)


COUNTED = {
    "values": StepValue, "scans": StepScan, "exceptions": BatchException, "stops": BatchStop,
    "signatures": ElectronicSignature, "stock": StockEntry, "logbook": LogbookEntry,
    "deviations": Deviation, "scan_refusals": ScanRefusal,
}


def counts(world) -> dict:
    """Rows (and history rows) that an action may write; a refusal leaves them all alone."""
    found = {name: model.objects.count() for name, model in COUNTED.items()}
    found["run_history"] = StepRun.history.count()
    found["batch_history"] = world.batch.history.model.objects.count()
    found["runs"] = sorted(StepRun.objects.filter(batch=world.batch)
                           .values_list("pk", "status", "revision"))
    return found


def written(before: dict, after: dict) -> dict:
    """What changed between two ``counts`` (empty: nothing was written)."""
    return {key: (before[key], after[key]) for key in before if before[key] != after[key]}
