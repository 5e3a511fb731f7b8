"""The QA workspace is dense and full width, with headers that stay in sight (issue 13 item
8, UI.md): measured in Chromium on a 1920×1080 desk monitor, on the deviation board."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from deviations.models import Deviation
from mes import audit
from tests.browser.test_deviations import log_in
from tests.mes.factories import SiteFactory, person

pytestmark = pytest.mark.browser


@pytest.fixture
def site(transactional_db):
    return SiteFactory(code="PLANT1")


@pytest.mark.req("UI-QA-001:full-width", "UI-QA-001:sticky", "UI-QA-001:dense")
def test_the_deviation_board_uses_the_whole_monitor_and_keeps_its_headers_in_sight(
        page: Page, live_server, site, roles, screenshot):
    person("QA Reviewer", sites=[site], username="qa1")
    raiser = person("Operator", sites=[site], username="op1")
    now = timezone.now()
    audit.bulk_create_with_history([
        Deviation(site=site, number=f"DEV-PLANT1-2026-{n:05d}", year=2026, sequence=n,
                  title=f"Deviation {n}", description="Bulk", detected_by=raiser,
                  acknowledge_due_at=now + timedelta(minutes=n),
                  next_escalation_at=now + timedelta(minutes=n))
        for n in range(1, 51)], Deviation, user=raiser, reason="Browser test")
    page.set_viewport_size({"width": 1920, "height": 1080})
    log_in(page, live_server.url, "qa1")
    page.goto(f"{live_server.url}/deviations/")
    table = page.locator("#deviation-rows")
    expect(table.locator("tbody tr")).to_have_count(50)
    # full width: the table spans the monitor (the old cards stopped at 1,200 px)
    assert table.bounding_box()["width"] > 1800
    # dense: 14 px text in the rows
    size = table.locator("tbody td").first.evaluate("e => getComputedStyle(e).fontSize")
    assert size == "14px"
    # sticky: after scrolling the rows, the header row is still at the top of the table's box
    wrap = page.locator(".qa-workspace .table-wrap").first
    wrap.evaluate("e => e.scrollTo(0, 600)")
    header = table.locator("thead th").first.bounding_box()
    assert abs(header["y"] - wrap.bounding_box()["y"]) < 2
    screenshot("qa-board-1920")
