"""Suite terminals (21 CFR 11.10(h)): registered by a Supervisor with a name, a secret given
once and stored only as its hash, recognised while active and never after withdrawal."""

from __future__ import annotations

import hashlib

import pytest
from django.test import RequestFactory

from mes.models import User
from scheduling import services
from scheduling.models import Suite, Terminal
from scheduling.selectors import TERMINAL_COOKIE, TERMINAL_HEADER, terminal_for_request
from scheduling.services.terminals import recognise, register_terminal, withdraw_terminal
from tests.custody.factories import plant
from tests.mes.factories import person
from tests.refusals import refused


def terminals() -> tuple:
    return (Terminal.objects.count(), Terminal.history.model.objects.count())


def stored_text(terminal: Terminal) -> str:
    """Everything the database holds about the terminal, history included."""
    rows = [Terminal.objects.filter(pk=terminal.pk).values().get(),
            *Terminal.history.filter(id=terminal.pk).values()]
    return repr(rows)


@pytest.mark.req("SCH-TERM-001:register", "SCH-TERM-001:hashed")
def test_a_supervisor_registers_a_terminal_and_only_its_hash_is_stored(world):
    terminal, secret = register_terminal(actor=world.supervisor, suite=world.suite,
                                         name="  S1   bench left ")
    assert (terminal.name, terminal.suite, terminal.site, terminal.status) == (
        "S1 bench left", world.suite, world.site, "active")
    assert terminal.registered_by == world.supervisor
    assert len(secret) >= 40
    assert terminal.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored_text(terminal)
    history = terminal.history.get()
    assert (history.history_user, history.history_change_reason) == (
        world.supervisor, "Terminal registered to suite S1")
    second, other = register_terminal(actor=world.supervisor, suite=world.suite, name="S1 right")
    assert other != secret and second.key_hash != terminal.key_hash


@pytest.mark.req("SCH-TERM-001:authorised")
def test_only_a_supervisor_of_the_site_registers_or_withdraws(world):
    far = person("Supervisor", sites=[plant(code="PLANT2", fin="G2222")], username="sup-far")
    before = terminals()
    for who in (world.op_a, world.planner, far):
        with refused("permission_denied"):
            register_terminal(actor=who, suite=world.suite, name="S1 bench")
    assert terminals() == before
    terminal, _ = register_terminal(actor=world.supervisor, suite=world.suite, name="S1 bench")
    before = terminals()
    for who in (world.op_a, far):
        with refused("permission_denied"):
            withdraw_terminal(actor=who, terminal=terminal, reason="Moved")
    assert terminals() == before
    assert Terminal.objects.get(pk=terminal.pk).status == "active"


@pytest.mark.req("SCH-TERM-001:name")
@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\x00name"])
def test_a_terminal_needs_a_name(world, name):
    before = terminals()
    with refused("invalid", field="name"):
        register_terminal(actor=world.supervisor, suite=world.suite, name=name)
    assert terminals() == before


@pytest.mark.req("SCH-TERM-001:name")
def test_a_name_is_used_once_at_a_site(world):
    register_terminal(actor=world.supervisor, suite=world.suite, name="Bench A")
    other_suite = services.create_suite(actor=world.admin, site=world.site, code="S2",
                                        name="Suite S2", grade="B", batch_capacity=1)
    before = terminals()
    for suite in (world.suite, other_suite):
        with refused("duplicate", match="Bench A", field="name"):
            register_terminal(actor=world.supervisor, suite=suite, name="Bench  A")
    assert terminals() == before


@pytest.mark.req("SCH-TERM-001:register")
def test_a_retired_suite_gets_no_terminal(world):
    suite = Suite.objects.get(pk=world.suite.pk)
    suite.status = Suite.Status.RETIRED
    suite._change_reason = "Test: retired"
    suite.save()
    with refused("suite_retired"):
        register_terminal(actor=world.supervisor, suite=suite, name="S1 bench")
    assert not Terminal.objects.exists()


@pytest.mark.req("SCH-TERM-002:recognised", "SCH-TERM-002:withdrawn")
def test_an_active_terminal_is_recognised_and_a_withdrawn_one_never(world):
    terminal, secret = register_terminal(actor=world.supervisor, suite=world.suite,
                                         name="S1 bench")
    assert recognise(secret) == terminal
    for wrong in (None, "", " ", secret[:-1], secret + "x", "y" * 500, terminal.key_hash):
        assert recognise(wrong) is None
    cookie = RequestFactory().get("/", HTTP_COOKIE=f"{TERMINAL_COOKIE}={secret}")
    header = RequestFactory().get("/", headers={TERMINAL_HEADER: secret})
    assert terminal_for_request(cookie) == terminal == terminal_for_request(header)
    with refused("reason_required", field="reason"):
        withdraw_terminal(actor=world.supervisor, terminal=terminal, reason=" ")
    assert recognise(secret) == terminal
    withdrawn = withdraw_terminal(actor=world.supervisor, terminal=terminal,
                                  reason="Screen replaced")
    assert (withdrawn.status, withdrawn.withdrawn_reason) == ("withdrawn", "Screen replaced")
    last = Terminal.objects.get(pk=terminal.pk).history.first()
    assert (last.history_user, last.history_change_reason) == (world.supervisor,
                                                               "Screen replaced")
    assert recognise(secret) is None
    again = RequestFactory().get("/", HTTP_COOKIE=f"{TERMINAL_COOKIE}={secret}")
    assert terminal_for_request(again) is None
    # withdrawing again changes nothing
    count = Terminal.history.model.objects.count()
    withdraw_terminal(actor=world.supervisor, terminal=terminal, reason="Again")
    assert Terminal.history.model.objects.count() == count
    assert Terminal.objects.get(pk=terminal.pk).withdrawn_reason == "Screen replaced"


@pytest.mark.req("SCH-TERM-001:authorised")
def test_supervisors_hold_the_terminal_rights_and_operators_do_not(world):
    supervisor = User.objects.get(pk=world.supervisor.pk)
    operator = User.objects.get(pk=world.op_a.pk)
    assert supervisor.has_perm("scheduling.add_terminal")
    assert supervisor.has_perm("scheduling.change_terminal")
    assert not operator.has_perm("scheduling.add_terminal")
