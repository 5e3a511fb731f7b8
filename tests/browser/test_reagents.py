"""The receiving bench and QA: a lot is received by typing its label scan into the receiving
page (as a keyboard-wedge scanner does), then QA releases it with a signature.

RGT-RCV-001: receipt by GS1 scan into quarantine. RGT-QA-001 / RGT-UI-001: QA's release is a
signed decision, shown with its manifestation on the lot page.
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from mes.models import ElectronicSignature, Meaning
from reagents.models import LotStatus, ReagentLot
from tests.mes.factories import PASSWORD, SiteFactory, person
from tests.reagents.factories import VECTOR_GTIN, material

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

EXPIRY = dt.date.today() + dt.timedelta(days=200)
# What a DataMatrix reader in keyboard mode types: the AIM prefix, then the element string
# with GS (ASCII 29) after the variable-length lot.
SCAN = f"]d201{VECTOR_GTIN}17{EXPIRY:%y%m%d}10VV24-0999\x1d21SN0007"


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


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()


@pytest.mark.req("RGT-RCV-001", "RGT-QA-001", "RGT-UI-001")
def test_a_lot_received_by_scan_is_released_by_qa_with_a_signature(
    page: Page, live_server, site, operator, qa, screenshot, browser_errors,
):
    material("LV-CD19", name="Lentiviral vector anti-CD19 CAR", unit="mL")

    # Given the operator at the receiving page
    log_in(page, live_server.url, "op1")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Receive").click()
    expect(page.get_by_role("heading", name="Receive a reagent lot")).to_be_visible()
    scan_field = page.get_by_label("Label scan")
    expect(scan_field).to_be_focused()

    # When the scanner types the label, and they give the quantity and place
    page.get_by_label("Quantity").fill("25")
    page.get_by_label("Storage location").fill("-80 °C freezer F2, rack A")
    scan_field.click()
    page.keyboard.type(SCAN)
    screenshot("scanned")
    page.get_by_role("button", name="Receive into quarantine").click()

    # Then the new lot's page shows it in quarantine, read from the label
    expect(page.locator(".msg-success")).to_contain_text("Received LV-CD19 lot VV24-0999")
    expect(page.get_by_role("heading", level=1)).to_contain_text("LV-CD19 lot VV24-0999 #SN0007")
    expect(page.locator("h1 [data-status]")).to_have_text("Quarantine")
    expect(page.locator("#on-hand")).to_have_text("25 mL")
    lot = ReagentLot.objects.get()
    assert (lot.expiry_date, lot.received_by, lot.status) == (EXPIRY, operator,
                                                              LotStatus.QUARANTINE)
    screenshot("received")
    log_out(page)

    # When QA opens the lot and releases it against the CoA, signing in the dialog
    log_in(page, live_server.url, "qa1")
    page.goto(f"{live_server.url}/reagents/lots/{lot.pk}/")
    release = page.locator("#release-form")
    release.get_by_label("Certificate of analysis reference").fill("COA-VV24-0999")
    release.get_by_role("button", name="Release").click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".dialog-head")).to_have_text("Release reagent lot")
    expect(dialog.locator(".sign-meaning")).to_have_text("Released")
    expect(dialog.locator(".summary")).to_contain_text("COA-VV24-0999")
    assert not ElectronicSignature.objects.exists()  # nothing before the signature
    screenshot("sign-dialog", full_page=False)
    dialog.get_by_label("Password for qa1").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign").click()

    # Then the lot is released, with the signature shown in its status history
    expect(page.locator(".msg-success")).to_contain_text("released and signed")
    expect(page.locator("h1 [data-status]")).to_have_text("Released")
    expect(page.locator("#coa")).to_have_text("COA-VV24-0999")
    row = page.locator("#status-history tbody tr").last
    expect(row).to_contain_text("Quarantine → Released")
    expect(row.locator(".sig-meaning")).to_have_text("Released")
    expect(row.locator(".sig-name")).to_have_text("Quentin Quality")
    screenshot("released")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
    signature = ElectronicSignature.objects.get()
    assert (signature.signer, signature.meaning) == (qa, Meaning.RELEASED)
    assert browser_errors == []
