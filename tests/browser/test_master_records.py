"""Master records in the QA workspace, in the browser: the supervisor submits the demo's
draft for review; QA finds it on the home page, reads the diff against the effective version,
and approves it through the sign dialog. axe-core checks every page on the way, and each is
saved as a screenshot for reviewers."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from batchrecords.models import MasterRecordVersion
from mes.demo import DEMO_PASSWORD
from tests.browser.test_axe import AXE, log_in, shoot, violations

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def demo(transactional_db):
    call_command("load_demo", stdout=io.StringIO())


@pytest.mark.req("MBR-UI-001")
def test_qa_reads_the_diff_and_approves_the_new_version(page: Page, live_server, demo):
    page.context.add_init_script(path=str(AXE))
    page.set_viewport_size({"width": 1920, "height": 1080})
    draft = MasterRecordVersion.objects.get(status="draft")
    # Given the supervisor submits the draft for review from its page
    log_in(page, live_server.url, "supervisor")
    page.goto(f"{live_server.url}/batchrecords/versions/{draft.pk}/")
    page.get_by_role("button", name="Submit for QA review").click()
    expect(page.locator("h1 [data-status]")).to_have_text("In review")
    page.context.clear_cookies()
    # When QA opens it from the home page and reads what changed
    log_in(page, live_server.url, "qa")
    page.locator("#master-records-panel").get_by_role("link", name="CART-19 v2").click()
    assert violations(page) == []
    shoot(page, "QA Reviewer", "/batchrecords/versions/", (1920, 1080))
    page.locator("#diff-link").click()
    expect(page.locator("#differences")).to_contain_text("HARVEST/H03 viability_harvest")
    expect(page.locator("#differences")).to_contain_text("EXPAND/E09")
    assert violations(page) == []
    shoot(page, "QA Reviewer", "/batchrecords/diff/", (1920, 1080))
    page.go_back()
    # Then approving asks for the password in the sign dialog, and the version is effective
    page.get_by_role("button", name="Approve and make effective…").click()
    dialog = page.locator("dialog.sign-dialog")
    expect(dialog).to_contain_text("Approved")
    dialog.get_by_label("Password for qa").fill(DEMO_PASSWORD)
    dialog.get_by_role("button", name="Sign").click()
    expect(page.locator("h1 [data-status]")).to_have_text("Effective")
    page.goto(f"{live_server.url}/batchrecords/")
    assert violations(page) == []
    shoot(page, "QA Reviewer", "/batchrecords/", (1920, 1080))
    assert MasterRecordVersion.objects.get(pk=draft.pk).status == "effective"
    assert MasterRecordVersion.objects.filter(status="superseded").count() == 1


@pytest.mark.req("MBR-UI-002:edit")
def test_the_supervisor_edits_the_draft_from_its_page(page: Page, live_server, demo):
    page.context.add_init_script(path=str(AXE))
    page.set_viewport_size({"width": 1920, "height": 1080})
    draft = MasterRecordVersion.objects.get(status="draft")
    log_in(page, live_server.url, "supervisor")
    page.goto(f"{live_server.url}/batchrecords/versions/{draft.pk}/")
    # A data field with a key already used comes back with its error at the field
    page.locator("#draft-field summary").click()
    form = page.locator("#draft-field form")
    form.get_by_label("Step", exact=True).select_option(label="EXPAND / E09 In-process "
                                                              "sterility sample")
    form.get_by_label("Key").fill("sterility_sample_id")
    form.get_by_label("Label").fill("Sample taken at")
    form.get_by_label("Kind").select_option("datetime")
    form.get_by_role("button", name="Add a data field").click()
    expect(page.locator("#error-summary")).to_contain_text("already used")
    expect(page.locator("#id_field-key-error")).to_contain_text("already used")
    assert violations(page) == []
    shoot(page, "Supervisor", "/batchrecords/versions/draft-error/", (1920, 1080))
    # Corrected, it is added and shows in the step's row
    page.locator("#draft-field form").get_by_label("Key").fill("sterility_sampled_at")
    page.locator("#draft-field form").get_by_role("button", name="Add a data field").click()
    expect(page.locator("#step-EXPAND-E09")).to_contain_text("sterility_sampled_at")
    # A step is changed on its own page, with a reason
    page.locator("#step-EXPAND-E09").get_by_role("link", name="Change E09").click()
    page.get_by_label("Expected minutes").fill("20")
    page.get_by_label("Reason for the change").fill("CC-2026-031: two samples")
    assert violations(page) == []
    page.get_by_role("button", name="Change step E09").click()
    expect(page.locator("#step-EXPAND-E09")).to_contain_text("20 min")
    assert violations(page) == []
    shoot(page, "Supervisor", "/batchrecords/versions/draft/", (1920, 1080))
    page.goto(f"{live_server.url}/batchrecords/import/")
    assert violations(page) == []
