"""QA at the desk: the batch list and the batch overview at 1920 px, with a batch that has
departures; the overview refreshes itself when a step is performed at the suite. axe-core is
run on both pages and screenshots are saved for reviewers."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from batchrecords.services.corrections import correct_value
from tests.batchrecords.execution_kit import perform
from tests.batchrecords.world import run as fresh
from tests.browser.test_axe import AXE, BLOCKING, RUN_AXE

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def world(transactional_db, roles):
    from tests.batchrecords.world import build_world

    return build_world()


@pytest.mark.req("EBR-VIEW-002:flagged", "EBR-VIEW-003:poll", "EBR-VIEW-003:unchanged")
def test_qa_reads_the_batch_list_and_the_overview_refreshes_live(page: Page, live_server,
                                                                  world, screenshot,
                                                                  browser_errors, monkeypatch):
    import batchrecords.views_batches

    monkeypatch.setattr(batchrecords.views_batches, "LIVE_SECONDS", 2)  # poll every 2 s
    perform(world, "R01")
    perform(world, "S01", values={"vcc": "3.5", "volume": "100"})
    s01 = fresh(world, "S01")
    correct_value(actor=world.operator, password=world.password, run=s01,
                  revision=s01.revision, terminal=world.terminal, field_key="volume",
                  value="98", reason="Read the wrong graduation")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.context.add_init_script(path=str(AXE))
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(world.qa.username)
    page.get_by_label("Password").fill(world.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()

    page.goto(f"{live_server.url}/batchrecords/batches/")
    expect(page.locator("#batch-rows .batch-row")).to_have_count(1)
    assert page.evaluate(RUN_AXE, list(BLOCKING)) == []
    screenshot("batch-list-1920")

    page.get_by_role("link", name=world.batch.number).click()
    expect(page.locator("h1")).to_contain_text(world.batch.number)
    expect(page.locator("#batch-flagged del.original")).to_have_text("100 mL")
    expect(page.locator('#batch-exceptions tr[data-kind="action_limit"] a')).to_be_visible()
    assert page.evaluate(RUN_AXE, list(BLOCKING)) == []
    screenshot("batch-overview-1920")

    # Polls that find nothing new swap nothing: the reader keeps focus and scroll position
    link = page.locator('#batch-exceptions tr[data-kind="action_limit"] a')
    link.focus()
    page.evaluate("() => window.scrollTo(0, 400)")
    page.wait_for_timeout(5000)  # two polls at least
    expect(link).to_be_focused()
    assert page.evaluate("() => window.scrollY") == 400
    # S01 is signed again at the suite; the overview shows it at its next poll
    expect(page.locator(f"#run-{world.runs['S01'].pk}")).to_have_attribute(
        "data-status", "pending")
    perform(world, "S01", values={}, lots=[], equipment_scan="")
    expect(page.locator(f"#run-{world.runs['S01'].pk}")).to_have_attribute(
        "data-status", "done", timeout=10_000)
    assert browser_errors == []
