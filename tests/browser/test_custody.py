"""The operator's terminal path: record a receipt at the plant by scanning the COI label,
sign it as performed, and see it in the patient's chain of custody."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from custody.models import CustodyEvent
from mes.models import ElectronicSignature
from tests.custody.factories import clinic, order_for, plant
from tests.mes.factories import PASSWORD, person

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def patient(transactional_db, roles):
    site, clinical_site = plant(), clinic()
    planner = person("Planner", sites=[site, clinical_site], username="planner1",
                     full_name="Pia Planner")
    return order_for(planner, manufacturing_site=site, ordering_site=clinical_site).patient


@pytest.fixture
def operator(patient):
    return person("Operator", sites=[patient.site], username="op1",
                  full_name="Otto Operator")


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


@pytest.mark.req("COI-EVT-001", "COI-UI-001")
def test_operator_records_a_receipt_by_scanning_the_label(
        page: Page, live_server, patient, operator, screenshot, browser_errors):
    # Given the operator on the patient's page, reached from the navigation
    log_in(page, live_server.url, "op1")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name=patient.din[:5]).click()
    expect(page.locator("#custody-chain")).to_contain_text("No custody events recorded yet.")
    page.get_by_role("link", name="Record a handoff").click()

    # When they choose the receipt, type the container and scan the label (Enter sends)
    form = page.locator("#scan-form")
    form.get_by_label("Event").select_option(label="Received at the plant")
    form.get_by_label("Container or bag identifier").fill("BAG-0001")
    scan = form.get_by_label("Label scan")
    scan.fill(patient.isbt.barcode_data)
    screenshot("scan")
    scan.press("Enter")

    # Then the sign dialog shows the scan and the meaning, and nothing is recorded yet
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".sign-meaning")).to_have_text("Performed")
    expect(dialog.locator(".summary")).to_contain_text(patient.isbt.barcode_data)
    assert not CustodyEvent.objects.exists()
    screenshot("sign", full_page=False)

    # When they sign with their password
    dialog.get_by_label("Password for op1").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign").click()

    # Then the patient's chain shows the signed receipt (a receipt without a shipment: a break)
    expect(page.locator(".msg-success")).to_contain_text("Received at the plant recorded")
    row = page.locator("#custody-chain tr[data-kind=received]")
    expect(row).to_contain_text("BAG-0001")
    expect(row.locator(".manifestation .sig-name")).to_have_text("Otto Operator")
    expect(row.locator(".sig-meaning")).to_have_text("Performed")
    expect(page.locator("#custody-chain .break-note")).to_contain_text(
        "Receipt without a shipment")
    screenshot("recorded")
    event = CustodyEvent.objects.get()
    assert (event.kind, event.performed_by, event.label_scan) == (
        "received", operator, patient.isbt.barcode_data)
    assert ElectronicSignature.objects.get().object_id == event.pk
    assert browser_errors == []


@pytest.mark.req("COI-EVT-002", "COI-UI-001")
def test_a_wrong_label_is_refused_on_the_terminal(page: Page, live_server, patient, operator,
                                                  screenshot, browser_errors):
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/custody/scan/?patient={patient.pk}")
    form = page.locator("#scan-form")
    form.get_by_label("Event").select_option(label="Received at the plant")
    form.get_by_label("Container or bag identifier").fill("BAG-0001")
    form.get_by_label("Label scan").fill("=G123426999999" + "00")
    form.get_by_label("Label scan").press("Enter")
    expect(page.locator(".scan-refused")).to_contain_text("WRONG LABEL")
    expect(page.locator("#dialog dialog")).to_have_count(0)
    screenshot("refused")
    assert not CustodyEvent.objects.exists()
    assert [e for e in browser_errors if "status of 409" not in e] == []
