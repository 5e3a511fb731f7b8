"""The operator's terminal path: record a receipt at the plant by scanning the COI label,
sign it as performed, and see it in the patient's chain of custody."""

from __future__ import annotations

import re
from urllib.parse import urlencode

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
    planner = person(
        "Planner", sites=[site, clinical_site], username="planner1", full_name="Pia Planner"
    )
    return order_for(planner, manufacturing_site=site, ordering_site=clinical_site).patient


@pytest.fixture
def operator(patient):
    return person("Operator", sites=[patient.site], username="op1", full_name="Otto Operator")


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


# Every operator control on the terminal page and its dialog: height and font size, with
# what it is (for the failure message).
MEASURE_CONTROLS = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map((el) => ({what: el.outerHTML.slice(0, 80), height: el.getBoundingClientRect().height,
                 font: parseFloat(getComputedStyle(el).fontSize)}))"""
MEASURE_TEXT = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((el) => el.getClientRects().length && Array.from(el.childNodes).some(
    (node) => node.nodeType === 3 && node.textContent.trim()))
  .map((el) => ({what: el.outerHTML.slice(0, 80),
                 font: parseFloat(getComputedStyle(el).fontSize)}))"""
CONTROLS = "a, button, input:not([type=hidden]), select, textarea, summary"


def assert_operator_sizes(page: Page, scope: str) -> None:
    controls = page.evaluate(
        MEASURE_CONTROLS, ", ".join(f"{scope} {tag}" for tag in CONTROLS.split(", "))
    )
    assert controls, f"no controls found in {scope}"
    small = [c for c in controls if c["height"] < 48 or c["font"] < 18]
    assert small == [], small
    texts = page.evaluate(MEASURE_TEXT, f"{scope}, {scope} *")
    assert [t for t in texts if t["font"] < 18] == []


@pytest.fixture
def shipped(patient):
    """Collected, packed and shipped by the clinic to the plant, where the operator works."""
    from custody.services.coldchain import create_shipment
    from custody.services.events import Handoff, record_custody_event
    from tests.custody.factories import ContainerTypeFactory

    clinic_operator = person(
        "Operator", sites=[patient.treating_site], username="clinicop", full_name="Carla Clinic"
    )
    shipment = None
    for kind in ("collected", "packed", "shipped"):
        if kind == "shipped":
            shipment = create_shipment(
                actor=clinic_operator,
                patient=patient,
                origin=patient.treating_site,
                destination=patient.site,
                container_type=ContainerTypeFactory(),
                container_id="DS-7",
                carrier="Cryoport",
            )
        record_custody_event(
            actor=clinic_operator,
            password=PASSWORD,
            handoff=Handoff(
                patient=patient,
                site=patient.treating_site,
                kind=kind,
                container_id="BAG-0001",
                label_scan=patient.isbt.barcode_data,
                shipment=shipment,
            ),
        )
    shipment.refresh_from_db()
    return shipment


@pytest.mark.req(
    "COI-EVT-001:terminal",
    "COI-UI-001:terminal",
    "COI-UI-002:browser",
    "COI-UI-002:sizes",
    "COI-UI-003:password",
)
@pytest.mark.parametrize("size", [(1280, 800), (800, 1280)], ids=["landscape", "portrait"])
def test_operator_records_a_receipt_by_scan_alone(
    size, page: Page, live_server, patient, shipped, operator, screenshot, browser_errors
):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    # Every select the page ever shows, and any interaction with one, is recorded.
    page.add_init_script("""document.addEventListener("DOMContentLoaded", () => {
      window.__selects = document.querySelectorAll("select").length;
      ["change", "input", "mousedown", "focusin"].forEach((type) =>
        document.addEventListener(type, (event) => {
          if (event.target.closest && event.target.closest("select")) {
            sessionStorage.setItem("selectTouched", "1"); }
        }, true));
    });""")
    log_in(page, live_server.url, "op1")

    # Given the terminal's scan page: the scan field is the first thing, and focused
    page.goto(f"{live_server.url}/custody/scan/")
    field = page.locator("#id_scan")
    expect(field).to_be_focused()
    assert page.evaluate("window.__selects") == 0
    screenshot("scan")

    # When the operator scans the bag (a scanner types, then Enter)
    page.keyboard.type(patient.isbt.barcode_data)
    page.keyboard.press("Enter")

    # Then the page shows whose material it is and the receipt expected, derived from it,
    # with the shipment's cold chain; the address bar is this page; the field is empty again
    expect(page.locator("#confirm-title")).to_contain_text("Received at the plant")
    assert page.url == live_server.url + "/custody/scan/?" + urlencode(
        {"label": patient.isbt.barcode_data}
    )
    expect(page.locator("#found-initials")).to_have_text("JD")
    expect(page.locator("#found-dob")).to_have_text("1971-03-14")
    expect(page.locator("#found-title .coi-check")).to_have_text(patient.isbt.check)
    expect(page.locator("#found-where")).to_contain_text("Shipped to the plant")
    expect(page.locator("#confirm-site")).to_contain_text(patient.site.name)
    expect(page.locator("#confirm-shipment")).to_contain_text(shipped.reference)
    expect(page.locator("#confirm-container")).to_have_text("BAG-0001")
    expect(page.locator("#cold-chain-status")).to_contain_text("No temperature readings yet.")
    expect(page.locator("#id_scan")).to_have_value("")
    assert page.evaluate("window.__selects") == 0
    assert_operator_sizes(page, "#scan-card")
    page.locator(".something-else summary").click()
    assert_operator_sizes(page, "#scan-card")
    page.locator(".something-else summary").click()
    screenshot("confirm")

    # When they confirm, the sign dialog opens; a wrong password keeps it, with its error
    page.get_by_role("button", name="Confirm and sign").click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".summary")).to_contain_text("Received at the plant")
    expect(dialog.locator(".summary")).to_contain_text(shipped.reference)
    assert_operator_sizes(page, "#dialog")
    assert not CustodyEvent.objects.filter(kind="received").exists()
    dialog.get_by_label("Password for op1").fill("not-my-password")
    dialog.get_by_role("button", name="Sign").click()
    expect(dialog.locator(".error")).to_contain_text("The password is not correct.")
    expect(page.locator("#scan-card")).to_be_visible()  # the page was not replaced
    screenshot("sign", full_page=False)

    # When they sign with their password
    dialog.get_by_label("Password for op1").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign").click()

    # Then the patient's chain shows the signed receipt, and the address bar is that page
    expect(page.locator(".msg-success")).to_contain_text("Received at the plant recorded")
    chain_url = f"{live_server.url}/custody/patients/{patient.pk}/#chain"
    assert page.url == chain_url
    row = page.locator("#custody-chain tr[data-kind=received]")
    expect(row.locator(".manifestation .sig-name")).to_have_text("Otto Operator")
    page.reload()
    expect(page.locator("#custody-chain tr[data-kind=received]")).to_have_count(1)
    assert page.url == chain_url
    screenshot("recorded")
    event = CustodyEvent.objects.get(kind="received")
    assert (event.performed_by, event.shipment, event.container_id, event.label_scan) == (
        operator,
        shipped,
        "BAG-0001",
        patient.isbt.barcode_data,
    )
    assert ElectronicSignature.objects.filter(object_id=event.pk).count() == 1
    assert page.evaluate("sessionStorage.getItem('selectTouched')") is None
    assert [e for e in browser_errors if "status of 422" not in e] == []


@pytest.fixture
def other_patient(patient):
    from mes.models import User

    planner = User.objects.get(username="planner1")
    return order_for(
        planner,
        manufacturing_site=patient.site,
        ordering_site=patient.treating_site,
        full_name="John Roe",
        hospital_record_number="H-0002",
    ).patient


@pytest.mark.req(
    "COI-EVT-002:terminal-field",
    "COI-EVT-002:misread",
    "COI-UI-001:terminal",
    "COI-UI-002:wrong-scan",
)
def test_an_unreadable_label_is_refused_at_the_field_without_an_alarm(
    page: Page, live_server, patient, operator, screenshot, browser_errors
):
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/custody/scan/?patient={patient.pk}")
    page.keyboard.type(patient.isbt.barcode_data + "Q")  # a wrong check character: a misread
    page.keyboard.press("Enter")
    # (how the extra character is read depends on the DIN: a wrong check character or flags)
    expect(page.locator(".scan-refused")).to_contain_text(
        re.compile("check character|flag characters"))
    expect(page.locator("#id_scan-error")).to_have_text("Refused: rescan the label.")
    expect(page.locator("#id_scan")).to_have_value("")
    expect(page.locator("dialog.scan-alarm")).to_have_count(0)
    screenshot("misread")
    assert not CustodyEvent.objects.exists()
    assert [e for e in browser_errors if "status of 422" not in e] == []


@pytest.mark.req(
    "COI-EVT-002:terminal-alarm",
    "COI-EVT-002:terminal-field",
    "COI-EVT-002:terminal-replace",
    "COI-UI-001:terminal",
    "COI-UI-002:wrong-scan",
)
def test_a_wrong_patients_label_stops_the_terminal_until_acknowledged(
    page: Page, live_server, patient, other_patient, operator, screenshot, browser_errors
):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "op1")
    # The operator opened the terminal for this patient (from the patient's page)
    page.goto(f"{live_server.url}/custody/scan/?patient={patient.pk}")
    expect(page.locator("#id_scan")).to_be_focused()
    wrong = other_patient.isbt.barcode_data

    # When the operator scans the neighbouring patient's bag (a scanner types, then Enter)
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
    assert page.evaluate("document.getElementById('scan-alarm').contains(document.activeElement)")
    screenshot("alarm", full_page=False)

    # And nothing behind it can be used until it is acknowledged: not by pointer...
    for x, y in ((10, 10), (640, 400), (1270, 790)):
        assert page.evaluate(
            f"document.getElementById('scan-alarm').contains(document.elementFromPoint({x}, {y}))"
        ), (x, y)
    with pytest.raises(PlaywrightTimeout):
        page.locator("#scan-form button[type=submit]").click(timeout=1000)
    # ... nor by keyboard: Escape does not close it, a new scan does not reach the field,
    # and its trailing Enter does not acknowledge it
    page.keyboard.press("Escape")
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")
    expect(alarm).to_be_visible()
    expect(page.locator("#id_scan")).to_have_value("")
    assert page.evaluate("document.getElementById('id_scan').matches(':focus')") is False

    # The scan field was emptied and shows its own error
    expect(page.locator("#id_scan-error")).to_have_text(
        "Refused: not this patient's label. Scan this patient's label."
    )

    # When the operator acknowledges, the alarm goes, the field is empty and focused
    alarm.get_by_role("button", name="I have stopped: acknowledge").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    field = page.locator("#id_scan")
    expect(field).to_have_value("")
    expect(field).to_be_focused()

    # A scan never appends to what the field still holds: a leftover is replaced
    field.fill(wrong)
    field.blur()
    field.focus()
    page.keyboard.type(patient.isbt.barcode_data)
    expect(field).to_have_value(patient.isbt.barcode_data)
    # And the right label goes on to the confirmation of this patient
    page.keyboard.press("Enter")
    expect(page.locator("#scan-found")).to_contain_text(patient.isbt.check)
    expect(page.locator("#found-initials")).to_have_text("JD")

    from custody.models import ScanRefusal

    assert ScanRefusal.objects.filter(reason="other_patient").count() == 1
    assert not CustodyEvent.objects.exists()
    assert [e for e in browser_errors if "status of 409" not in e] == []


@pytest.mark.req("COI-RPT-001:printable")
def test_the_chain_of_custody_report_prints_without_navigation(
    page: Page, live_server, patient, operator, screenshot, browser_errors
):
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


@pytest.mark.req("COI-UI-003:password", "UI-SIGN-001")
def test_with_debug_on_a_refused_password_keeps_the_dialog_on_the_page(
    page: Page, live_server, settings, patient, shipped, operator, browser_errors
):
    settings.DEBUG = True  # as the demo runs
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/custody/scan/?" + urlencode({"label": patient.isbt.barcode_data}))
    # the shell never loads django-htmx's debug handler, which replaces the page on a 4xx
    expect(page.locator("script[src*='django-htmx.js']")).to_have_count(0)
    page.get_by_role("button", name="Confirm and sign").click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    dialog.get_by_label("Password for op1").fill("not-my-password")
    dialog.get_by_role("button", name="Sign").click()
    expect(dialog.locator(".error")).to_contain_text("The password is not correct.")
    expect(page.locator("#scan-card")).to_be_visible()
    expect(page.locator(".topbar")).to_be_visible()  # the page is still the page
    assert not CustodyEvent.objects.filter(kind="received").exists()


@pytest.mark.req("COI-UI-003:no-dialog")
def test_a_missing_storage_place_is_asked_on_the_card_before_the_dialog(
    page: Page, live_server, patient, operator, browser_errors
):
    from custody.services.events import Handoff, record_custody_event

    record_custody_event(
        actor=operator,
        password=PASSWORD,
        handoff=Handoff(
            patient=patient,
            site=patient.site,
            kind="received",
            container_id="BAG-0001",
            label_scan=patient.isbt.barcode_data,
        ),
    )
    log_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/custody/scan/")
    page.keyboard.type(patient.isbt.barcode_data)
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-title")).to_contain_text("Stored")
    page.get_by_role("button", name="Confirm and sign").click()
    # The refusal comes back on the card, at the field, and no dialog opens
    expect(page.locator("#id_location-error")).to_have_text("Required for storage.")
    expect(page.locator("#dialog dialog.sign-dialog")).to_have_count(0)
    page.get_by_label("Storage location").fill("LN2 tank 2")
    page.get_by_label("Position").fill("Rack 4")
    page.get_by_role("button", name="Confirm and sign").click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog.locator(".summary")).to_contain_text("LN2 tank 2 Rack 4")
    assert [e for e in browser_errors if "status of 422" not in e] == []
