"""The receiving bench and QA: a lot is received by typing its label scan into the receiving
page (as a keyboard-wedge scanner does): scan, see what was decoded, give the quantity,
confirm. Then QA releases it with a signature.

RGT-RCV-001: receipt by GS1 scan into quarantine. RGT-UI-002: the decoded preview (or the
refusal) comes before the quantity. RGT-QA-001 / RGT-UI-001: QA's release is a signed
decision, shown with its manifestation on the lot page.
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
EXPIRED_SCAN = f"]d201{VECTOR_GTIN}17200131" + "10VV20-0001"


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


@pytest.mark.req(
    "RGT-RCV-001:quarantine-receipt",
    "RGT-QA-001:release",
    "RGT-UI-001:qa-flows",
    "RGT-UI-002:preview-before-quantity",
    "RGT-UI-002:refusal-before-quantity",
    "RGT-UI-002:scan-clears",
)
def test_a_lot_received_by_scan_is_released_by_qa_with_a_signature(
    page: Page, live_server, site, operator, qa, screenshot, browser_errors,
):
    material("LV-CD19", name="Lentiviral vector anti-CD19 CAR", unit="mL")

    # Given the operator at the receiving page, which asks for the scan alone
    log_in(page, live_server.url, "op1")
    page.get_by_role("navigation", name="Main").get_by_text("Production", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Receive").click()
    expect(page.get_by_role("heading", name="Receive a reagent lot")).to_be_visible()
    scan_field = page.get_by_label("Label scan")
    expect(scan_field).to_be_focused()
    expect(page.get_by_label("Quantity (mL)")).to_have_count(0)

    # When the scanner types the label of an expired lot (Enter ends a scan)
    page.keyboard.type(EXPIRED_SCAN)
    page.keyboard.press("Enter")

    # Then the refusal is shown at the field and as an alarm, and no quantity is asked
    alarm = page.locator("#scan-refusal")
    expect(alarm).to_contain_text("Do not receive this lot")
    expect(alarm).to_contain_text("expired on 2020-01-31")
    expect(page.locator("#scan-error")).to_contain_text("expired on 2020-01-31")
    expect(page.get_by_label("Quantity (mL)")).to_have_count(0)
    expect(scan_field).to_have_value("")
    screenshot("refused-expired")

    # When the next label is scanned (it replaces the last scan)
    expect(scan_field).to_be_focused()
    page.keyboard.type(SCAN)
    page.keyboard.press("Enter")

    # Then what was decoded is shown before anything is stored
    decoded = page.locator("#decoded")
    expect(decoded.get_by_role("heading")).to_have_text("Decoded from the label")
    expect(decoded.locator('[data-field="gtin"]')).to_have_text(VECTOR_GTIN)
    expect(decoded.locator('[data-field="material"]')).to_have_text(
        "LV-CD19 · Lentiviral vector anti-CD19 CAR")
    expect(decoded.locator('[data-field="lot"]')).to_have_text("VV24-0999")
    expect(decoded.locator('[data-field="expiry"]')).to_have_text(f"{EXPIRY:%Y-%m-%d}")
    expect(decoded.locator('[data-field="serial"]')).to_have_text("SN0007")
    expect(page.locator("#scan-refusal")).to_have_count(0)
    assert not ReagentLot.objects.exists()
    screenshot("decoded")

    # When they give the quantity and place, and confirm
    quantity = page.get_by_label("Quantity (mL)")
    expect(quantity).to_be_focused()
    quantity.fill("25")
    page.get_by_label("Storage location").fill("-80 °C freezer F2, rack A")
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
    # the refused scan's page is a 400 (refused input answers 4xx); nothing else went wrong
    refused_scan = [e for e in browser_errors if "status of 400" in e and "/reagents/receive/" in e]
    assert len(refused_scan) == 1
    assert [e for e in browser_errors if e not in refused_scan] == []


@pytest.mark.req("RGT-UI-002:ambiguous-choice", "RGT-RCV-004:confirmed-recorded")
def test_a_scan_without_separators_is_received_as_the_receiver_reads_the_label(
    page: Page, live_server, site, operator, screenshot, browser_errors,
):
    material("LV-CD19", name="Lentiviral vector anti-CD19 CAR", unit="mL")
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/reagents/receive/")
    # (the page focuses its scan field once loaded: a scanner typing before would be lost)
    expect(page.get_by_label("Label scan")).to_be_focused()

    # When a scanner that drops GS reads a label whose lot LOT42 is followed by serial XYZ
    page.keyboard.type(f"]d201{VECTOR_GTIN}17{EXPIRY:%y%m%d}10LOT4221XYZ")
    page.keyboard.press("Enter")

    # Then both readings are shown, and nothing is received until one is chosen
    decoded = page.locator("#decoded")
    expect(decoded.get_by_role("heading")).to_have_text(
        "Check the label: the scan reads more than one way")
    expect(decoded.locator("dl.reading")).to_have_count(2)
    page.get_by_label("Quantity (mL)").fill("3")
    page.get_by_label("Storage location").fill("-80 °C freezer F2, rack A")
    screenshot("two-readings")
    page.get_by_role("button", name="Receive into quarantine").click()
    expect(page.locator("#error-summary")).to_contain_text("Choose how the printed label reads")
    assert not ReagentLot.objects.exists()

    # When the receiver chooses the reading that the printed label shows
    page.get_by_label("Reading 2: lot LOT42, serial XYZ", exact=False).check()
    page.get_by_label("Quantity (mL)").fill("3")
    page.get_by_label("Storage location").fill("-80 °C freezer F2, rack A")
    page.get_by_role("button", name="Receive into quarantine").click()

    # Then the lot is received as that reading, and the choice is on its record
    expect(page.get_by_role("heading", level=1)).to_contain_text("LV-CD19 lot LOT42 #XYZ")
    lot = ReagentLot.objects.get()
    assert (lot.supplier_lot, lot.serial_number) == ("LOT42", "XYZ")
    assert "receiver confirmed this reading" in lot.entries.get().reason
    screenshot("received-as-read")
    refused = [e for e in browser_errors if "status of 400" in e and "/reagents/receive/" in e]
    assert [e for e in browser_errors if e not in refused] == []
