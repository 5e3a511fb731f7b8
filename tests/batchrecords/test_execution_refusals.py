"""Every check of a perform, refused with its own code and message, writing nothing: no value,
scan, history row, signature, stock movement or logbook entry (EBR-EXEC-001 to -004, -008)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batchrecords.models import BatchException, BatchStatus, ExceptionKind, StepStatus
from deviations.models import Deviation
from mes import audit
from scheduling.services.logbook import change_suite_status
from scheduling.services.terminals import register_terminal, withdraw_terminal
from tests.batchrecords.execution_kit import (
    counts,
    finish_stage,
    inputs,
    perform,
    up_to,
    written,
)
from tests.batchrecords.world import run
from tests.mes.factories import person
from tests.refusals import refused
from tests.scheduling.factories import make_suite


def _refused_writes_nothing(world, code, *, step="R01", match=None, field=None, **kwargs):
    before = counts(world)
    with refused(code, match=match, field=field):
        perform(world, step, **kwargs)
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-001:revision")
def test_a_stale_revision_is_refused_with_a_409_and_writes_nothing(world):
    before = counts(world)
    with refused("stale_step", match="reload", field="revision") as info:
        perform(world, "R01", revision=3)
    assert info.value.status == 409
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-EXEC-001:pending")
def test_a_step_already_performed_says_who_performed_it(world):
    perform(world, "R01")
    _refused_writes_nothing(world, "already_performed", match="Ann Operator")


@pytest.mark.req("EBR-EXEC-001:executable")
def test_a_step_of_a_batch_no_longer_in_the_making_is_refused(world):
    batch = world.batch
    batch.status = BatchStatus.CANCELLED
    audit.stamp(batch, user=world.supervisor, reason="Test: cancelled")
    batch.save()
    _refused_writes_nothing(world, "batch_not_executable", match="cancelled")


@pytest.mark.req("EBR-EXEC-001:password")
def test_a_wrong_password_writes_nothing_of_the_step(world):
    up_to(world, "S01")
    _refused_writes_nothing(world, "wrong_password", step="S01", password="not-it")


@pytest.mark.req("EBR-EXEC-002:sequence")
def test_a_step_before_its_turn_is_refused_naming_what_to_finish(world):
    _refused_writes_nothing(world, "not_your_turn", step="S01", match="R01")


@pytest.mark.req("EBR-EXEC-002:parallel")
def test_a_parallel_group_runs_in_any_order_but_not_before_the_stage_before_it(world):
    perform(world, "R01")
    _refused_writes_nothing(world, "not_your_turn", step="T02", match="S01")
    perform(world, "S01")

    perform(world, "T02")  # the second step of the group first
    perform(world, "T01")

    assert run(world, "T01").status == run(world, "T02").status == StepStatus.DONE


@pytest.mark.req("EBR-EXEC-002:sequence")
def test_the_step_after_a_group_waits_for_every_step_of_it(world):
    up_to(world, "T01")
    perform(world, "T01")
    _refused_writes_nothing(world, "not_your_turn", step="T03", match="T02")


@pytest.mark.req("EBR-EXEC-002:too-early")
def test_a_step_before_its_window_is_refused_saying_when_it_may_start(world):
    up_to(world, "T01")
    finish_stage(world, ["T01", "T02"], minutes_ago=10)
    finished = run(world, "T01").performed_at
    earliest = timezone.localtime(finished + dt.timedelta(minutes=30), world.site.zone)

    _refused_writes_nothing(world, "too_early", step="T03",
                            match=f"from {earliest:%Y-%m-%d %H:%M %Z}")


@pytest.mark.req("EBR-EXEC-002:too-late")
def test_a_step_after_its_window_is_recorded_with_a_deviation(world):
    up_to(world, "T01")
    finish_stage(world, ["T01", "T02"], minutes_ago=150)

    done = perform(world, "T03")

    exception = BatchException.objects.get(run=done, kind=ExceptionKind.TIME_WINDOW)
    assert int(exception.value) >= 150
    deviation = Deviation.objects.get()
    assert exception.deviation == deviation
    assert deviation.classification == "major"  # T03 is critical
    assert deviation.rule == "batchrecords.time_window"


@pytest.mark.req("EBR-EXEC-003:booked")
def test_a_batch_not_booked_for_today_is_refused(world):
    booking = world.booking
    booking.start_date = booking.start_date + dt.timedelta(days=2)
    booking.end_date = booking.end_date + dt.timedelta(days=2)
    audit.stamp(booking, user=world.planner, reason="Test: moved to later")
    booking.save()
    _refused_writes_nothing(world, "not_booked_today", match="not booked")


@pytest.mark.req("EBR-EXEC-003:available")
def test_a_suite_that_is_not_available_is_refused(world):
    change_suite_status(actor=world.supervisor, suite=world.suite, status="on_hold",
                        reason="Test: particle counts high")
    _refused_writes_nothing(world, "suite_not_available", match="S1")


@pytest.mark.req("EBR-EXEC-003:terminal")
def test_no_terminal_or_a_withdrawn_one_is_refused(world):
    _refused_writes_nothing(world, "terminal_not_registered", terminal=None)
    withdraw_terminal(actor=world.supervisor, terminal=world.terminal, reason="Test: broken")
    world.terminal.refresh_from_db()
    _refused_writes_nothing(world, "terminal_not_registered")


@pytest.mark.req("EBR-EXEC-003:terminal-suite")
def test_another_suites_terminal_is_refused(world):
    other = make_suite(world.admin, world.site, "S2")
    terminal, _secret = register_terminal(actor=world.supervisor, suite=other, name="S2 bench")
    _refused_writes_nothing(world, "terminal_wrong_suite", terminal=terminal, match="S1")


@pytest.mark.req("EBR-EXEC-004:perform")
def test_an_operator_not_certified_is_refused_with_the_gates_reasons(world):
    novice = person("Operator", sites=[world.site], username="opn", full_name="Nora Novice")
    _refused_writes_nothing(world, "not_certified", actor=novice, match="GOWN-B",
                            field="certification")


@pytest.mark.req("EBR-EXEC-008:missing")
def test_a_required_value_left_empty_is_refused_on_its_field(world):
    _refused_writes_nothing(world, "missing_value", values={"seal_intact": " "},
                            field="seal_intact")


@pytest.mark.req("EBR-EXEC-008:invalid")
@pytest.mark.parametrize(("values", "key"), [
    ({"vcc": "abc", "volume": "100"}, "vcc"),
    ({"vcc": "NaN", "volume": "100"}, "vcc"),
    ({"vcc": "Infinity", "volume": "100"}, "vcc"),
    ({"vcc": "1e30", "volume": "100"}, "vcc"),
    ({"vcc": "1.5\x00", "volume": "100"}, "vcc"),
    ({"vcc": "0.0000000000001", "volume": "100"}, "vcc"),
    ({"vcc": "1.5", "volume": "100", "color": "red"}, "color"),
])
def test_a_number_that_is_not_a_sane_finite_number_is_refused(world, values, key):
    up_to(world, "S01")
    _refused_writes_nothing(world, "invalid_value", step="S01", values=values, field=key)


@pytest.mark.req("EBR-EXEC-008:invalid")
def test_a_yes_no_answer_is_yes_or_no(world):
    _refused_writes_nothing(world, "invalid_value", values={"seal_intact": "maybe"},
                            field="seal_intact")


@pytest.mark.req("EBR-EXEC-008:invalid", "EBR-EXEC-008:calculated")
@pytest.mark.parametrize(("change", "key"), [
    ({"method": "Syringe"}, "method"),
    ({"added_at": "yesterday"}, "added_at"),
    ({"added_at": "2099-01-01T10:00"}, "added_at"),
    ({"added_at": "2001-01-01T10:00"}, "added_at"),
    ({"dose_volume": "12"}, "dose_volume"),
])
def test_choices_moments_and_calculated_values_are_checked(world, change, key):
    up_to(world, "T03")
    values = {**inputs(world, "T03")["values"], **change}
    _refused_writes_nothing(world, "invalid_value", step="T03", values=values, field=key)


@pytest.mark.req("EBR-EXEC-008:invalid")
def test_text_is_at_most_500_characters_without_nul(world):
    up_to(world, "T02")
    _refused_writes_nothing(world, "invalid_value", step="T02", values={"remarks": "x" * 501},
                            field="remarks")
    _refused_writes_nothing(world, "invalid_value", step="T02", values={"remarks": "a\x00b"},
                            field="remarks")


@pytest.mark.req("EBR-EXEC-001:executable")
def test_a_person_of_another_site_does_not_find_the_batch(world):
    from tests.custody.factories import plant

    elsewhere = person("Operator", sites=[plant(code="PLANT9", fin="G9999")], username="opx",
                       full_name="Xena Elsewhere")
    _refused_writes_nothing(world, "not_found", actor=elsewhere)
