"""The operator's terminal path: record a receipt at the plant by scanning the COI label,
sign it as performed, and see it in the patient's chain of custody."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

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


@pytest.mark.req("COI-EVT-001:terminal", "COI-UI-001:terminal")
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


@pytest.fixture
def other_patient(patient):
    from mes.models import User

    planner = User.objects.get(username="planner1")
    return order_for(planner, manufacturing_site=patient.site,
                     ordering_site=patient.treating_site, full_name="John Roe",
                     hospital_record_number="H-0002").patient


def start_receipt(page: Page, base_url: str, patient):
    page.goto(f"{base_url}/custody/scan/?patient={patient.pk}")
    form = page.locator("#scan-form")
    form.get_by_label("Event").select_option(label="Received at the plant")
    form.get_by_label("Container or bag identifier").fill("BAG-0001")
    return form.get_by_label("Label scan")


@pytest.mark.req("COI-EVT-002:terminal-field", "COI-EVT-002:misread",
                 "COI-UI-001:terminal")
def test_an_unreadable_label_is_refused_at_the_field_without_an_alarm(
        page: Page, live_server, patient, operator, screenshot, browser_errors):
    log_in(page, live_server.url, "op1")
    scan = start_receipt(page, live_server.url, patient)
    scan.fill(patient.isbt.barcode_data + "Q")  # a wrong check character: a misread
    scan.press("Enter")
    expect(page.locator(".scan-refused")).to_contain_text("check character")
    expect(page.locator("#id_label_scan-error")).to_have_text("Refused: rescan the label.")
    expect(page.get_by_label("Label scan")).to_have_value("")
    expect(page.locator("dialog.scan-alarm")).to_have_count(0)
    screenshot("misread")
    assert not CustodyEvent.objects.exists()
    assert [e for e in browser_errors if "status of 422" not in e] == []


@pytest.mark.req("COI-EVT-002:terminal-alarm", "COI-EVT-002:terminal-field",
                 "COI-EVT-002:terminal-replace", "COI-UI-001:terminal")
def test_a_wrong_patients_label_stops_the_terminal_until_acknowledged(
        page: Page, live_server, patient, other_patient, operator, screenshot,
        browser_errors):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "op1")
    scan = start_receipt(page, live_server.url, patient)
    wrong = other_patient.isbt.barcode_data

    # When the operator scans the neighbouring patient's bag (a scanner types, then Enter)
    scan.click()
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")

    # Then a full-screen alarm covers the whole window, with the focus on it
    alarm = page.get_by_role("alertdialog")
    expect(alarm).to_be_visible()
    expect(alarm).to_contain_text("WRONG PATIENT")
    expect(alarm).to_contain_text(patient.coi)
    expect(alarm).to_contain_text("critical deviation DEV-")
    box = alarm.bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 1280, 800)
    assert page.evaluate("document.getElementById('scan-alarm').contains("
                         "document.activeElement)")
    screenshot("alarm", full_page=False)

    # And nothing behind it can be used until it is acknowledged: not by pointer...
    for x, y in ((10, 10), (640, 400), (1270, 790)):
        assert page.evaluate(f"document.getElementById('scan-alarm').contains("
                             f"document.elementFromPoint({x}, {y}))"), (x, y)
    with pytest.raises(PlaywrightTimeout):
        page.locator("#scan-form button[type=submit]").click(timeout=1000)
    # ... nor by keyboard: Escape does not close it, a new scan does not reach the field,
    # and its trailing Enter does not acknowledge it
    page.keyboard.press("Escape")
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")
    expect(alarm).to_be_visible()
    expect(page.locator("#id_label_scan")).to_have_value("")
    assert page.evaluate("document.getElementById('id_label_scan').matches(':focus')") is False

    # The scan field was emptied and shows its own error
    expect(page.locator("#id_label_scan-error")).to_have_text(
        "Refused: not this patient's label. Scan this patient's label.")

    # When the operator acknowledges, the alarm goes, the field is empty and focused
    alarm.get_by_role("button", name="I have stopped: acknowledge").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    field = page.locator("#id_label_scan")
    expect(field).to_have_value("")
    expect(field).to_be_focused()

    # And the next scan replaces the last: the right label opens the sign dialog alone
    page.keyboard.type(patient.isbt.barcode_data)
    expect(field).to_have_value(patient.isbt.barcode_data)
    page.keyboard.press("Enter")
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog.locator(".summary")).to_contain_text(patient.isbt.barcode_data)
    dialog.get_by_role("button", name="Cancel").click()
    # A scan after a completed one starts afresh instead of appending to it
    field.click()
    page.keyboard.type(wrong)
    expect(field).to_have_value(wrong)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alertdialog")).to_be_visible()
    screenshot("alarm-again", full_page=False)

    from custody.models import ScanRefusal

    assert ScanRefusal.objects.filter(reason="other_patient").count() == 2
    assert not CustodyEvent.objects.exists()
    assert [e for e in browser_errors if "status of 409" not in e] == []


@pytest.mark.req("COI-RPT-001:printable")
def test_the_chain_of_custody_report_prints_without_navigation(
        page: Page, live_server, patient, operator, screenshot, browser_errors):
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/custody/patients/{patient.pk}/report/")
    expect(page.locator(".topbar")).to_be_visible()
    page.emulate_media(media="print")
    for chrome in (".topbar", ".footer", ".no-print"):
        expect(page.locator(chrome).first).to_be_hidden()
    expect(page.get_by_role("heading", name="Custody events")).to_be_visible()
    expect(page.get_by_role("heading", name="Temperature summary")).to_be_visible()
    screenshot("print")
    assert browser_errors == []
