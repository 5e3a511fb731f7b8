"""The shell in Chromium at the terminal's 1280 x 800: each role's navigation on one row, its
groups opened by keyboard and by tap; after a form on a detail page the address is that
page's; dates typed as ISO text; the label sheet printing the labels alone."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from deviations.models import Deviation
from mes.roles import ROLES
from tests.custody.factories import clinic, order_for, plant
from tests.deviations.factories import raised
from tests.mes.factories import PASSWORD, person

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

TERMINAL = {"width": 1280, "height": 800}


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": TERMINAL, "has_touch": True}


@pytest.fixture
def site(transactional_db):
    return plant()


@pytest.fixture
def hospital(transactional_db):
    return clinic()


@pytest.fixture
def people(site, hospital, roles):
    """One person in each role, at the plant and the hospital (the widest navigation)."""
    return {
        role: person(role, sites=[site, hospital], username=f"u{index}", full_name=f"{role} Person")
        for index, role in enumerate(ROLES)
    }


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Username")).to_be_visible()


ROW = """() => {
  const items = [...document.querySelectorAll(".mainnav .nav-top > li")];
  const nav = document.querySelector(".mainnav");
  return {tops: items.map((li) => Math.round(li.getBoundingClientRect().top)),
          overflow: nav.scrollWidth - nav.clientWidth,
          wide: document.documentElement.scrollWidth - window.innerWidth};
}"""


@pytest.mark.req("UI-NAV-001:one-row")
def test_every_roles_navigation_is_one_row_at_1280_and_groups_open_by_keyboard_and_tap(
    page: Page, live_server, people, screenshot, browser_errors
):
    for role, user in people.items():
        log_in(page, live_server.url, user.username)
        # The operator's pages use the terminal's larger text: measure there too.
        start = reverse("custody:scan") if role == "Operator" else reverse("home")
        page.goto(f"{live_server.url}{start}")
        row = page.evaluate(ROW)
        assert 3 <= len(row["tops"]) <= 7, role
        assert len(set(row["tops"])) == 1, f"{role}: the navigation wraps ({row['tops']})"
        assert row["overflow"] <= 0 and row["wide"] <= 0, f"{role}: {row}"
        slug = role.lower().replace(" ", "-")
        screenshot(slug)
        if role == "Operator":  # the terminal also stands upright
            page.set_viewport_size({"width": 800, "height": 1280})
            upright = page.evaluate(ROW)
            assert len(set(upright["tops"])) == 1 and upright["wide"] <= 0, upright
            screenshot(f"{slug}-800x1280")
            page.set_viewport_size(TERMINAL)

        nav = page.get_by_role("navigation", name="Main")
        groups = nav.locator("details.nav-group")
        assert groups.count() >= 1, role
        first = groups.first
        summary = first.locator("summary")
        menu_link = first.locator(".nav-menu a").first
        expect(menu_link).to_be_hidden()
        # By keyboard: Enter opens, Escape closes and gives focus back to the group.
        summary.focus()
        page.keyboard.press("Enter")
        expect(menu_link).to_be_visible()
        page.keyboard.press("Escape")
        expect(menu_link).to_be_hidden()
        expect(summary).to_be_focused()
        # By touch: a tap opens; a tap on another group closes the first.
        summary.tap()
        expect(menu_link).to_be_visible()
        screenshot(f"{slug}-menu", full_page=False)
        if groups.count() > 1:
            groups.nth(1).locator("summary").tap()
            expect(menu_link).to_be_hidden()
            expect(groups.nth(1).locator(".nav-menu a").first).to_be_visible()
        log_out(page)
    assert browser_errors == []


@pytest.mark.req("UI-NAV-002")
def test_the_operators_header_buttons_lead_to_scan_and_raise(
    page: Page, live_server, people, browser_errors
):
    log_in(page, live_server.url, people["Operator"].username)
    actions = page.locator(".header-actions a")
    expect(actions).to_have_text(["Scan", "Raise a deviation"])
    actions.get_by_text("Raise a deviation").click()
    expect(page).to_have_url(f"{live_server.url}{reverse('deviations:raise')}")
    assert browser_errors == []


@pytest.mark.req("UI-PRG-001:browser")
def test_after_a_form_on_a_detail_page_the_address_is_that_page(
    page: Page, live_server, site, people, screenshot, browser_errors
):
    deviation = raised(people["Operator"], site)
    detail = f"{live_server.url}{reverse('deviations:detail', args=[deviation.pk])}"
    log_in(page, live_server.url, people["QA Reviewer"].username)
    page.goto(detail)
    form = page.locator("#comment-form")
    form.get_by_label("Comment").fill("Door alarm log attached.")
    form.get_by_role("button", name="Add comment").click()
    expect(page.locator(".msg-success")).to_have_text("Comment added.")
    expect(page).to_have_url(detail)
    # A reload shows the page again; it does not post the comment a second time.
    page.reload()
    expect(page.locator(".msg-success")).to_have_count(0)
    assert Deviation.objects.get().comments.count() == 1
    screenshot("after-comment")
    assert browser_errors == []


@pytest.mark.req("UI-DATE-001:every-form")
def test_a_date_is_typed_as_iso_text_not_picked_in_the_browsers_locale(
    page: Page, live_server, people, browser_errors
):
    log_in(page, live_server.url, people["Planner"].username)
    page.goto(f"{live_server.url}{reverse('custody:order-create')}")
    birth = page.get_by_label("Date of birth")
    expect(birth).to_have_attribute("type", "text")
    expect(page.locator("input[type=date]")).to_have_count(0)
    expect(page.locator("#id_date_of_birth-hint")).to_contain_text("YYYY-MM-DD")
    birth.fill("14/03/1971")
    assert page.evaluate(
        "() => document.getElementById('id_date_of_birth').validity.patternMismatch"
    )
    birth.fill("1971-03-14")
    assert not page.evaluate(
        "() => document.getElementById('id_date_of_birth').validity.patternMismatch"
    )
    assert browser_errors == []


@pytest.mark.req("UI-LABEL-001:print-styles", "UI-LABEL-001:scanner-string")
def test_the_label_sheet_prints_the_labels_alone(
    page: Page, live_server, site, hospital, people, screenshot, browser_errors
):
    patient = order_for(people["Planner"], manufacturing_site=site, ordering_site=hospital).patient
    log_in(page, live_server.url, people["Operator"].username)
    page.goto(f"{live_server.url}{reverse('custody:label-sheet', args=[patient.pk])}")
    expect(page.locator("#scanner-string")).to_have_text(patient.isbt.barcode_data)
    expect(page.get_by_role("button", name="Print labels")).to_be_visible()
    screenshot("screen")
    page.emulate_media(media="print")
    for chrome in (".topbar", ".footer", "#label-check", "h1"):
        expect(page.locator(chrome).first).to_be_hidden()
    labels = page.locator(".label-img")
    expect(labels).to_have_count(2)
    for index in range(2):
        expect(labels.nth(index)).to_be_visible()
    screenshot("print")
    assert browser_errors == []
