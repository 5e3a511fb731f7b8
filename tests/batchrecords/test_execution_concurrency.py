"""Two operators signing one step at the same moment: the step run is locked, so exactly one
succeeds and the other is told the step changed (EBR-CONC-001)."""

from __future__ import annotations

import pytest

from batchrecords.models import StepScan, StepStatus, StepValue
from mes.models import ElectronicSignature
from tests.batchrecords.execution_kit import perform
from tests.batchrecords.world import run
from tests.races import race


def _race(calls) -> list[str]:
    return race(calls, "performed")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.req("EBR-CONC-001:parallel")
def test_two_operators_performing_one_step_at_once_one_succeeds(world):
    outcomes = _race([
        lambda who=who: perform(world, "R01", actor=who, revision=0)
        for who in (world.operator, world.verifier)
    ])

    assert outcomes.count("performed") == 1
    assert [o for o in outcomes if o != "performed"][0] in ("already_performed", "stale_step")
    step = run(world, "R01")
    assert (step.status, step.revision) == (StepStatus.DONE, 1)
    assert ElectronicSignature.objects.filter(object_id=step.pk,
                                              content_type__model="steprun").count() == 1
    assert StepValue.objects.filter(run=step).count() == 1
    assert StepScan.objects.filter(run=step).count() == 1


def _correct(world, code, key, value, *, actor=None):
    from batchrecords.services.corrections import correct_value
    from tests.mes.factories import PASSWORD

    step = run(world, code)
    return correct_value(actor=actor or world.operator, password=PASSWORD, run=step,
                         revision=step.revision, terminal=world.terminal, field_key=key,
                         value=value, reason="Transcription error")


def _moves_to(world, status: str) -> int:
    return world.batch.history.filter(status=status).count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.req("EBR-CONC-001:parallel-stage")
def test_two_steps_of_one_parallel_stage_performed_at_once_are_both_performed(world):
    from tests.batchrecords.execution_kit import up_to

    up_to(world, "T01")
    outcomes = _race([lambda: perform(world, "T01"),
                      lambda: perform(world, "T02", actor=world.verifier)])

    assert outcomes == ["performed", "performed"]
    assert {run(world, code).status for code in ("T01", "T02")} == {StepStatus.DONE}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.req("EBR-CONC-001:last-steps")
def test_the_last_two_steps_finishing_at_once_execute_the_batch_once(world):
    from batchrecords.models import BatchStatus
    from tests.batchrecords.execution_kit import up_to, verify

    # given T03 awaiting verification and T02 corrected, awaiting its signature again
    up_to(world, "T03")
    perform(world, "T03")
    _correct(world, "T02", "remarks", "Warmed twice")

    # when T02 is signed again and T03 verified at the same moment
    outcomes = _race([
        lambda: perform(world, "T02", values={}),
        lambda: verify(world, "T03"),
    ])

    # then both succeed and the batch moves to executed exactly once
    assert outcomes == ["performed", "performed"]
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.EXECUTED
    assert _moves_to(world, BatchStatus.EXECUTED) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.req("EBR-CONC-001:lock-order")
def test_a_correction_and_a_verification_at_once_never_deadlock(world):
    from tests.batchrecords.execution_kit import up_to, verify

    # given T03 awaiting verification, its dose calculated from S01's concentration
    up_to(world, "T03")
    perform(world, "T03")

    # when S01 is corrected (T03 calculated again) while T03 is verified
    outcomes = _race([lambda: _correct(world, "S01", "vcc", "1.2"),
                      lambda: verify(world, "T03")])

    # then neither fails with a database error: the correction succeeds, and the verification
    # either came first or is told the step changed
    assert "performed" in outcomes
    assert all(o in ("performed", "stale_step", "not_awaiting_verification") for o in outcomes)
    assert run(world, "T03").status == StepStatus.PENDING
