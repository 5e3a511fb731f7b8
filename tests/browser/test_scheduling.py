"""The planner opens a suite of the demo plant from the suite list and sees its equipment,
the coming bookings with their problems and the logbook; axe finds nothing serious."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.browser.test_axe import AXE, log_in, shoot, violations

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def demo_page(page: Page, transactional_db) -> Page:
    """The demo plant, and a page with axe-core injected into every document it opens."""
    call_command("load_demo", stdout=io.StringIO())
    page.context.add_init_script(path=str(AXE))
    return page


@pytest.mark.req("SCH-FEA-001:together")
def test_the_planner_sees_a_suites_bookings_with_their_problems(demo_page: Page, live_server):
    page = demo_page
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "planner")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_text("Production", exact=True).click()  # the group's disclosure menu
    nav.get_by_role("link", name="Suites", exact=True).click()
    page.get_by_role("link", name="LEI-B").click()
    expect(page.locator("h1")).to_contain_text("LEI-B")
    expect(page.locator("#equipment")).to_contain_text("LEI-B-BIOREACTOR")
    expect(page.locator('#bookings [data-code="equipment_calibration_due"]').first).to_be_visible()
    expect(page.locator("#logbook")).to_contain_text("Cleaned and disinfected")
    assert violations(page) == []
    shoot(page, "Planner", "/scheduling/suites/LEI-B/", (1280, 800))
