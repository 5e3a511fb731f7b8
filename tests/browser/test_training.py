"""The Trainer's main path: grant a certification in the browser, sign it as approved, and
see it in the certification matrix.

TRN-UI-002: grant through the sign dialog; the decision shows its manifestation.
TRN-UI-001: the matrix shows the new certification with its expiry date.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone
from playwright.sync_api import Page, expect

from mes.models import ElectronicSignature
from tests.mes.factories import PASSWORD, SiteFactory, person
from tests.training.factories import QualificationFactory, SOPRevisionFactory, require_sop, trained
from training.models import Certification

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")


@pytest.fixture
def site(transactional_db):
    return SiteFactory(code="PLANT1", name="Plant One", time_zone="Europe/Amsterdam")


@pytest.fixture
def trainer(site, roles):
    return person("Trainer", sites=[site], username="tr1", full_name="Tina Trainer")


@pytest.fixture
def operator(site, roles, trainer):
    """Otto, trained on the effective revision of SOP-CS, not yet certified for CELL-SEL."""
    otto = person("Operator", sites=[site], username="op1", full_name="Otto Operator")
    revision = SOPRevisionFactory(document__number="SOP-CS", document__title="Cell selection",
                                  revision="1", effective_date=dt.date(2025, 1, 1))
    require_sop(QualificationFactory(code="CELL-SEL", name="Cell selection"),
                revision.document)
    trained(otto, revision, trainer=trainer, site=site, on=dt.date(2025, 2, 1))
    return otto


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


@pytest.mark.req(
    "TRN-UI-001:states",
    "TRN-UI-002:sign-flows",
    "TRN-UI-002:shows",
    "TRN-CERT-001:signed",
)
def test_a_trainer_grants_a_certification_and_the_matrix_shows_it(
    page: Page, live_server, trainer, operator, screenshot, browser_errors,
):
    # Given the Trainer on the certification matrix, where Otto holds nothing yet
    log_in(page, live_server.url, "tr1")
    page.get_by_role("navigation", name="Main").get_by_text("Training", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role("link",
                                                            name="Certifications").click()
    expect(page.get_by_role("heading", name="Certification matrix · PLANT1")).to_be_visible()
    otto_row = page.locator('#matrix tr[data-person="op1"]')
    expect(otto_row.locator("td")).to_have_text(["—"])
    screenshot("matrix-before")

    # When they open Otto's page and ask to grant CELL-SEL with a reason
    otto_row.get_by_role("link", name="Otto Operator").click()
    expect(page.get_by_role("heading", name=re.compile("Otto Operator"))).to_be_visible()
    form = page.locator("#grant-form")
    form.get_by_label("Qualification").select_option(label="CELL-SEL · Cell selection")
    form.get_by_label("Reason").fill("Observed three aseptic selections")
    form.get_by_role("button", name="Continue to signature").click()

    # Then the sign dialog shows what is signed and its meaning
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".dialog-head")).to_have_text("Grant certification")
    expect(dialog.locator(".summary dd").nth(1)).to_have_text(
        "CELL-SEL · Cell selection at PLANT1")
    expect(dialog.locator(".sign-meaning")).to_have_text("Approved")
    expect(dialog.get_by_label("Password for tr1")).to_be_focused()
    screenshot("sign-dialog", full_page=False)
    assert not Certification.objects.exists()

    # When they sign with their password
    dialog.get_by_label("Password for tr1").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign").click()

    # Then Otto's page shows the certification and the signed decision
    expect(page.locator(".msg-success")).to_have_text(
        "CELL-SEL granted to Otto Operator and signed.")
    row = page.locator("#certifications tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".pill").first).to_have_text("Active")
    manifestation = row.locator(".manifestation")
    expect(manifestation.locator(".sig-meaning")).to_have_text("Approved")
    expect(manifestation.locator(".sig-name")).to_have_text("Tina Trainer")
    expect(manifestation.locator("time")).to_have_text(UTC_STAMP)
    expect(manifestation).to_contain_text("Observed three aseptic selections")
    screenshot("granted")

    # And the matrix shows Otto certified, with the expiry date
    page.get_by_role("navigation", name="Main").get_by_text("Training", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role("link",
                                                            name="Certifications").click()
    cert = Certification.objects.get()
    today = timezone.now().astimezone(cert.site.zone).date()
    until = today + relativedelta(months=12) - dt.timedelta(days=1)
    cell = page.locator('#matrix tr[data-person="op1"] td')
    expect(cell.locator(".pill")).to_have_text("Certified")
    expect(cell).to_have_attribute("data-state", "ok")
    expect(cell.locator(".muted")).to_have_text(f"until {until.isoformat()}")
    screenshot("matrix-after")

    assert (cert.person, cert.status, cert.valid_until) == (operator, "active", until)
    signature = ElectronicSignature.objects.get()
    assert (signature.signer, signature.meaning) == (trainer, "approved")
    assert browser_errors == []
