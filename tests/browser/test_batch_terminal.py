"""The operator at the suite's terminal: three steps of the patient's batch performed with the
scans typed as a scanner types them (keystrokes ending in Enter), signed through the dialog;
then a wrong patient's label stops the batch with the full-screen alarm. Sizes, horizontal
scroll and axe-core are checked on the way; screenshots are saved for reviewers."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from batchrecords.models import BatchStop, StepStatus
from tests.batchrecords.world import run as fresh
from tests.browser.test_axe import AXE, BLOCKING, RUN_AXE
from tests.browser.test_custody import assert_operator_sizes
from tests.custody.factories import order_for

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def world(transactional_db, roles):
    from tests.batchrecords.world import build_world

    return build_world()


def at_the_terminal(page: Page, live_server, world, username: str) -> None:
    page.context.add_init_script(path=str(AXE))
    page.context.add_cookies([{"name": "mes_terminal", "value": world.terminal_secret,
                               "url": live_server.url}])
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(world.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


def scan(page: Page, barcode: str) -> None:
    """A scanner: the characters as keystrokes, then Enter, into the focused scan field."""
    expect(page.locator("#id_scan")).to_be_focused()
    page.keyboard.type(barcode)
    page.keyboard.press("Enter")


def sign(page: Page, button: str, password: str) -> None:
    page.get_by_role("button", name=button).click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    assert_operator_sizes(page, "#dialog")
    dialog.locator("input[type=password]").fill(password)
    dialog.get_by_role("button", name="Sign").click()


def check_screen(page: Page) -> None:
    """The terminal's screen (the shell's top bar is the kernel's): 48 px controls, 18 px
    text, no sideways scroll, nothing serious for axe."""
    assert_operator_sizes(page, ".terminal")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert page.evaluate(RUN_AXE, list(BLOCKING)) == []


@pytest.mark.req("EBR-TERM-009:browser", "EBR-TERM-003:label", "EBR-TERM-005:signed",
                 "EBR-TERM-003:alarm", "EBR-TERM-003:replace")
def test_an_operator_performs_three_steps_by_scanning_and_a_wrong_label_stops_the_batch(
        page: Page, live_server, world, screenshot, browser_errors):
    import datetime as dt

    from django.utils import timezone

    from tests.reagents.factories import lot

    lot(site=world.site, material_=world.medium, supplier_lot="TX-OLD",
        expiry=timezone.now().date() - dt.timedelta(days=2))
    page.set_viewport_size({"width": 1280, "height": 800})
    at_the_terminal(page, live_server, world, world.operator.username)
    terminal = f"{live_server.url}/batchrecords/batches/{world.batch.pk}/terminal/"

    # R01: the terminal opens the step due now; the patient's label is scanned
    page.goto(terminal)
    expect(page.locator("#step-title")).to_contain_text("R01")
    check_screen(page)
    page.set_viewport_size({"width": 800, "height": 1280})
    check_screen(page)
    screenshot("step-800x1280")
    page.set_viewport_size({"width": 1280, "height": 800})
    scan(page, world.label)
    expect(page.locator("#scan-chips .chip-ok")).to_contain_text("Label matches")
    expect(page.locator("#id_scan")).to_have_value("")
    expect(page.locator("#slot-label_scan")).to_have_class("slot slot-done")
    # Signing without the value is refused on the screen, before any password
    page.get_by_role("button", name="Sign performed").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Enter every required value: Seal intact")
    expect(page.locator("#dialog dialog")).to_have_count(0)
    expect(page.locator("#slot-label_scan")).to_have_class("slot slot-done")
    check_screen(page)
    screenshot("refused")
    page.get_by_text("Yes", exact=True).click()
    screenshot("step-r01")
    sign(page, "Sign performed", world.password)
    expect(page.locator(".msg-success")).to_contain_text("Step R01 performed and signed.")

    # S01: an expired lot raises the alarm, which only its button acknowledges
    expect(page.locator("#step-title")).to_contain_text("S01")
    scan(page, "TX-OLD")
    alarm = page.locator("dialog.term-alarm")
    expect(alarm).to_be_visible()
    expect(alarm).to_contain_text("STOP: do not use this lot")
    expect(alarm).to_be_focused()
    page.keyboard.press("Enter")  # a scanner's trailing Enter
    page.keyboard.press("Escape")
    expect(alarm).to_be_visible()
    assert page.evaluate("() => document.querySelector('dialog.term-alarm').matches(':modal')")
    assert page.evaluate(RUN_AXE, list(BLOCKING)) == []
    screenshot("alarm", full_page=False)
    alarm.get_by_role("button", name="I have put it aside: acknowledge").click()
    expect(alarm).to_have_count(0)
    expect(page.locator("#scan-chips .chip-bad")).to_contain_text("expired")
    # then a good lot and the cell separator; each answer replaces the last
    scan(page, "TX-1")
    expect(page.locator("#slot-lot_MED-TEX")).to_contain_text("TX-1")
    scan(page, "CS-01")
    expect(page.locator("#slot-equipment_scan")).to_contain_text("CS-01")
    expect(page.locator("#scan-chips .chip")).to_have_count(1)
    expect(page.locator("#scan-chips .chip-ok")).to_contain_text("CS-01")
    page.get_by_label("Viable cell concentration").fill("1.5")
    page.get_by_label("Culture volume").fill("100")
    check_screen(page)
    screenshot("step-s01")
    sign(page, "Sign performed", world.password)

    # T01 and T02 are a parallel group: the operator picks T01
    expect(page.locator("#due-now")).to_contain_text("T02 Warm the medium")
    screenshot("pick")
    page.get_by_role("link", name="T01 Thaw the vector").click()
    page.get_by_label("Vector titre").fill("50")
    sign(page, "Sign performed", world.password)
    expect(page.locator("#step-title")).to_contain_text("T02")
    assert [fresh(world, code).status for code in ("R01", "S01", "T01")] == [StepStatus.DONE] * 3

    # A wrong patient's label: the whole terminal shows the stop
    other = order_for(world.planner, manufacturing_site=world.site,
                      ordering_site=world.clinical, initials="ZZ",
                      hospital_record_number="H-0999").patient
    scan(page, other.isbt.barcode_data)
    stop = page.locator("#batch-stop")
    expect(stop).to_be_visible()
    expect(stop).to_contain_text("STOP: batch")
    expect(stop).to_contain_text("critical deviation")
    assert page.url == terminal
    assert page.locator("#id_scan").count() == 0
    check_screen(page)
    screenshot("stop", full_page=False)
    assert BatchStop.objects.filter(batch=world.batch, cleared_at__isnull=True).count() == 1
    # A refusal answers 400 by design (shown on the screen); nothing else may be logged.
    assert [e for e in browser_errors if "responded with a status of 400" not in e] == []


@pytest.mark.req("EBR-TERM-001:header", "EBR-TERM-001:timer")
def test_the_header_counts_down_the_last_two_minutes_before_the_idle_lock(
        page: Page, live_server, world, settings, screenshot):
    settings.SESSION_IDLE_MINUTES = 2
    page.set_viewport_size({"width": 1280, "height": 800})
    at_the_terminal(page, live_server, world, world.operator.username)

    page.goto(f"{live_server.url}/batchrecords/batches/{world.batch.pk}/terminal/")

    idle = page.locator(".term-idle")
    expect(idle).to_be_visible()
    expect(idle).to_contain_text(re.compile(r"Locks in [12]:\d\d"))
    first = idle.inner_text()
    page.wait_for_timeout(1500)
    assert idle.inner_text() != first  # it counts down
    expect(page.locator("[data-step-timer] [data-elapsed]")).not_to_have_text("0:00")
    screenshot("idle")
    # A reload does not restart the step's timer.
    page.reload()
    elapsed = page.locator("[data-step-timer] [data-elapsed]")
    assert elapsed.inner_text() not in ("0:00", "")


@pytest.mark.req("EBR-TERM-007:verifier")
def test_a_second_person_verifies_a_performed_step_on_the_terminal(
        page: Page, live_server, world, screenshot, browser_errors):
    from tests.batchrecords.execution_kit import perform, up_to

    up_to(world, "T03")
    perform(world, "T03")
    page.set_viewport_size({"width": 1280, "height": 800})
    at_the_terminal(page, live_server, world, world.verifier.username)

    page.goto(f"{live_server.url}/batchrecords/batches/{world.batch.pk}/terminal/")
    page.get_by_role("link", name="Verify T03 Add the vector").click()

    expect(page.locator("#entered-title")).to_be_visible()
    expect(page.locator("#value-method")).to_contain_text("Pump")
    expect(page.locator("#value-dose_volume")).to_contain_text("mL")
    # A moment is shown in the site's zone, not as the stored ISO string
    expect(page.locator("#value-added_at")).to_contain_text(
        re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{3,4}"))
    check_screen(page)
    screenshot("verify")
    sign(page, "Sign verified", world.password)
    expect(page.locator(".msg-success")).to_contain_text("Step T03 verified and signed.")
    assert fresh(world, "T03").verified_by == world.verifier
    assert browser_errors == []
