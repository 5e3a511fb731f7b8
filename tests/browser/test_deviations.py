"""The deviation's main path in the browser: an operator raises a deviation from the
terminal, answering only what happened; QA sees it on the board with the live badge and
acknowledges it there with a signature."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from deviations.models import Deviation, Status
from mes.models import ElectronicSignature
from tests.mes.factories import PASSWORD, SiteFactory, person

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def site(transactional_db):
    return SiteFactory(code="PLANT1", name="Plant One", time_zone="Europe/Amsterdam")


@pytest.fixture
def operator(site, roles):
    return person("Operator", sites=[site], username="op1", full_name="Otto Operator")


@pytest.fixture
def qa(site, roles):
    return person("QA Reviewer", sites=[site], username="qa1", full_name="Quentin Quality")


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


@pytest.mark.req(
    "DEV-RAISE-002:terminal",
    "DEV-UI-001:order",
    "DEV-SIG-001:acknowledge",
    "DEV-ESC-003:badge",
)
def test_operator_raises_on_the_terminal_and_qa_acknowledges_from_the_board(
    page: Page, live_server, operator, qa, screenshot, browser_errors,
):
    # Given the operator at the terminal, in the context of batch B-0042 of patient G1234...
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/deviations/raise/?batch=B-0042&coi=G123489654321")
    context = page.locator("#raise-context")
    expect(context).to_contain_text("PLANT1")
    expect(context).to_contain_text("B-0042")
    expect(context).to_contain_text("G1234 89 654321 00 Y")  # the COI as people read it
    form = page.locator("#raise-form")
    expect(form.locator("textarea, input:not([type=hidden]), select")).to_have_count(3)
    screenshot("terminal")

    # When they say only what happened and raise it
    form.get_by_label("What happened, in a few words").fill("Bag label torn at receipt")
    form.get_by_label("What exactly did you see, and when?").fill(
        "At 10:05 the outer label of the apheresis bag was torn; DIN still readable.")
    form.get_by_role("button", name="Raise deviation").click()

    # Then the deviation exists with the context filled in, and the operator sees its page
    deviation = Deviation.objects.get()
    expect(page.locator(".msg-success")).to_have_text(
        f"Deviation {deviation.number} raised. QA has been told.")
    expect(page.locator("#deviation-status")).to_have_text("Open")
    assert (deviation.batch_number, deviation.patient_coi, deviation.detected_by) == (
        "B-0042", "G123489654321", operator)
    screenshot("raised")
    page.locator(".who form button").click()

    # When QA opens the board
    log_in(page, live_server.url, "qa1")
    page.locator(".header-actions").get_by_role("link", name="Deviation board").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deviation board")
    expect(page.locator("#deviation-badge")).to_contain_text("1 waiting for acknowledgement")
    row = page.locator(f"tr.deviation-row[data-number='{deviation.number}']")
    expect(row).to_contain_text("Bag label torn at receipt")
    expect(row.locator(".pill-ok")).to_contain_text("acknowledge in")
    screenshot("board")

    # And acknowledges it from the board with a signature
    row.get_by_role("button", name=f"Acknowledge {deviation.number}").click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".sign-meaning")).to_have_text("Acknowledged")
    expect(dialog.locator(".summary dd").first).to_contain_text(deviation.number)
    screenshot("sign-dialog", full_page=False)
    assert not ElectronicSignature.objects.exists()
    dialog.get_by_label("Password for qa1").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign").click()

    # Then the deviation is acknowledged, signed, and shown so
    expect(page.locator(".msg-success")).to_have_text(
        f"{deviation.number} acknowledged and signed.")
    expect(page.locator("#deviation-status")).to_have_text("Acknowledged")
    manifestation = page.locator(".manifestation").first
    expect(manifestation.locator(".sig-meaning")).to_have_text("Acknowledged")
    expect(manifestation.locator(".sig-name")).to_have_text("Quentin Quality")
    screenshot("acknowledged")
    deviation.refresh_from_db()
    assert (deviation.status, deviation.acknowledged_by) == (Status.ACKNOWLEDGED, qa)
    signature = ElectronicSignature.objects.get()
    assert (signature.signer, signature.meaning, signature.object_id) == (
        qa, "acknowledged", deviation.pk)
    assert browser_errors == []
