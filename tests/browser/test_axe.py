"""Accessibility, checked rather than hoped (UI.md "Checked, not hoped"; issue 13): axe-core,
vendored from npm under static/vendor/axe-core, runs on every page reachable from each demo
role's navigation, and no page may have a serious or critical violation. The same walk
saves a screenshot of each page at 1280 x 800 (and 800 x 1280 for the operator) under
var/artifacts/screenshots/ for reviewers."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from mes.demo import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "var" / "artifacts" / "screenshots"
# One demo login per role (mes/demo.py).
ROLES = {
    "operator": "Operator",
    "supervisor": "Supervisor",
    "qa": "QA Reviewer",
    "qp": "Qualified Person",
    "planner": "Planner",
    "trainer": "Trainer",
    "admin": "Administrator",
}
BLOCKING = ("serious", "critical")

NAV_LINKS = """() => [...document.querySelectorAll("header a[href]")]
  .map((a) => a.getAttribute("href"))"""
RUN_AXE = """async (impacts) => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter((v) => impacts.includes(v.impact)).map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
}"""


@pytest.fixture
def demo(transactional_db):
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def axe_page(page: Page) -> Page:
    """The page with axe-core injected into every document it opens (an init script is
    added by the browser itself, so the pages' content security policy does not apply)."""
    page.context.add_init_script(path=str(AXE))
    return page


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


def navigation(page: Page) -> list[str]:
    """The paths the role's header links to (menus included), in order, once each."""
    paths = []
    for href in page.evaluate(NAV_LINKS):
        parts = urlsplit(href)
        if parts.netloc or not parts.path.startswith("/") or parts.path.startswith("/logout"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path not in paths:
            paths.append(path)
    return paths


def violations(page: Page) -> list[dict]:
    return page.evaluate(RUN_AXE, list(BLOCKING))


def shoot(page: Page, role: str, path: str, size: tuple[int, int]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    role = re.sub(r"[^a-z0-9]+", "-", role.lower())
    slug = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"
    name = f"role-{role}-{slug}-{size[0]}x{size[1]}.png"
    page.screenshot(path=str(SHOTS / name), full_page=True)


@pytest.mark.req("UI-A11Y-001", "UI-A11Y-002")
@pytest.mark.parametrize("username", list(ROLES))
def test_no_page_in_a_roles_navigation_has_a_serious_accessibility_violation(
    axe_page: Page, live_server, demo, username
):
    # Given the demo person of a role, signed in at a desk's 1280 x 800
    page = axe_page
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, username)
    paths = navigation(page)
    assert len(paths) >= 2, paths
    found, broken = {}, {}
    for path in paths:
        # When they open each page their navigation offers
        response = page.goto(live_server.url + path)
        if response is None or response.status >= 400:
            broken[path] = response.status if response else "no response"
            continue
        # Then axe-core finds nothing serious or critical on it
        if problems := violations(page):
            found[path] = problems
        shoot(page, ROLES[username], path, (1280, 800))
        if username == "operator":
            page.set_viewport_size({"width": 800, "height": 1280})
            shoot(page, ROLES[username], path, (800, 1280))
            page.set_viewport_size({"width": 1280, "height": 800})
    report = SHOTS.parent / f"axe-{ROLES[username].lower().replace(' ', '-')}.json"
    report.write_text(json.dumps({"pages": paths, "violations": found}, indent=1))
    assert broken == {}
    assert found == {}, f"see {report.relative_to(ROOT)}"


@pytest.mark.req("UI-A11Y-001")
def test_axe_reports_a_serious_violation(axe_page: Page, live_server, demo):
    # Given a page with an image that has no text alternative (axe's image-alt, critical)
    page = axe_page
    log_in(page, live_server.url, "operator")
    page.evaluate("""() => document.querySelector("h1").after(
        Object.assign(document.createElement("img"), {src: "/static/favicon.svg"}))""")
    # Then the check reports it
    assert "image-alt" in {v["id"] for v in violations(page)}
