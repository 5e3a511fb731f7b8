"""A Supervisor registers the suite's browser as a terminal from the suite page: the browser
keeps the key in an HttpOnly, SameSite=Strict cookie, the key is shown once, and the operator
who logs in on that browser reaches the batch's terminal instead of the "not a terminal"
screen. Axe finds nothing serious on the way; screenshots are saved for reviewers."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from scheduling.models import Terminal
from scheduling.selectors import TERMINAL_COOKIE
from scheduling.services.terminals import key_hash
from tests.browser.test_axe import AXE, shoot, violations

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def world(transactional_db, roles):
    from tests.batchrecords.world import build_world

    return build_world()


def log_in(page: Page, base_url: str, user, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


@pytest.mark.req("SCH-TERM-003:suite-page", "SCH-TERM-003:cookie", "SCH-TERM-003:shown-once")
def test_a_supervisor_registers_this_browser_and_the_operator_works_on_it(
        page: Page, live_server, world):
    page.context.add_init_script(path=str(AXE))
    page.set_viewport_size({"width": 1280, "height": 800})
    # before: the batch's terminal refuses this browser
    log_in(page, live_server.url, world.operator, world.password)
    terminal_url = f"{live_server.url}/batchrecords/batches/{world.batch.pk}/terminal/"
    page.goto(terminal_url)
    expect(page.locator("#unregistered-title")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server.url, world.supervisor, world.password)
    page.goto(f"{live_server.url}/scheduling/suites/{world.suite.pk}/")
    expect(page.locator("#terminals")).to_contain_text("S1 bench left")
    page.get_by_role("link", name="Register this browser as a terminal of S1").click()
    assert violations(page) == []
    page.get_by_label("Name of this terminal").fill("S1 bench right")
    page.get_by_role("button", name="Register this browser").click()
    secret = page.locator("#terminal-secret").inner_text().strip()
    terminal = Terminal.objects.get(name="S1 bench right")
    assert key_hash(secret) == terminal.key_hash
    assert violations(page) == []
    shoot(page, "Supervisor", "/scheduling/suites/terminal-registered/", (1280, 800))
    cookie = next(c for c in page.context.cookies() if c["name"] == TERMINAL_COOKIE)
    assert (cookie["value"], cookie["httpOnly"], cookie["sameSite"]) == (secret, True, "Strict")
    assert cookie["expires"] > 0  # kept across browser restarts, not a session cookie
    page.reload()
    expect(page.locator("#secret-gone")).to_be_visible()
    expect(page.locator("#terminal-secret")).to_have_count(0)
    page.get_by_role("link", name="Back to S1").click()
    expect(page.locator("#this-browser")).to_contain_text("S1 bench right")
    page.get_by_role("button", name="Log out").click()

    # after: the operator on this browser reaches the step due now
    log_in(page, live_server.url, world.operator, world.password)
    page.goto(terminal_url)
    expect(page.locator("#unregistered-title")).to_have_count(0)
    expect(page.locator("#id_scan")).to_be_visible()
