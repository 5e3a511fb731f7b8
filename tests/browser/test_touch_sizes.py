"""Touch sizes on the operator's screens (UI.md "Sizes", issue 13 item 7): every control the
operator can touch, table links included, is at least 48 px high, and text is at least 18 px,
measured in Chromium at the terminal's 1280 x 800 as the demo operator."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from mes.demo import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

OPERATOR_PAGES = ["home", "custody:scan", "reagents:receive", "deviations:raise", "inbox"]
MIN_TARGET_PX = 48
MIN_TEXT_PX = 18

# Every visible element a finger can operate, and every visible element with its own text.
MEASURE = """() => {
  const visible = (el) => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden"
      && style.display !== "none" && !el.closest("[hidden], dialog:not([open])");
  };
  const name = (el) => (el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + " '" + (el.innerText || el.value || el.getAttribute("aria-label") || "").trim()
      .slice(0, 40) + "'");
  const targets = [], texts = [];
  const interactive = 'a[href], button, input:not([type="hidden"]), select, textarea, '
    + 'summary, [role="button"], [tabindex]:not([tabindex="-1"])';
  for (const el of document.querySelectorAll(interactive)) {
    if (!visible(el)) continue;
    const height = el.getBoundingClientRect().height;
    if (height < %(target)s - 0.5) targets.push(name(el) + " is " + height.toFixed(1) + " px");
  }
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !visible(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < %(text)s - 0.05) texts.push(name(el) + " is " + size + " px");
  }
  return {targets, texts};
}""" % {"target": MIN_TARGET_PX, "text": MIN_TEXT_PX}


@pytest.fixture
def demo(transactional_db):
    """The whole demo (every app's records), so the pages show the tables and links an
    operator meets, not empty states."""
    call_command("load_demo", stdout=io.StringIO())


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


def measure(page: Page) -> dict:
    return page.evaluate(MEASURE)


@pytest.mark.req("UI-TOUCH-001", "UI-TOUCH-002")
def test_every_operator_control_is_48_px_high_and_text_18_px(
    page: Page, live_server, demo, screenshot
):
    # Given the demo operator at the terminal's screen size
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "operator")
    problems = {}
    for name in OPERATOR_PAGES:
        # When they open each operator page
        page.goto(live_server.url + reverse(name))
        found = measure(page)
        # Then no control is lower than 48 px and no text smaller than 18 px
        if found["targets"] or found["texts"]:
            problems[name] = found
        screenshot(name.replace(":", "-"))
    assert problems == {}


@pytest.mark.req("UI-TOUCH-001")
def test_the_measurement_finds_a_small_table_link(page: Page, live_server, demo):
    # Given an operator page where a table link is shrunk back to running text
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "operator")
    page.goto(live_server.url + reverse("inbox"))
    # (styled through the CSSOM: the content security policy refuses style attributes)
    page.evaluate("""() => { const cell = document.querySelector("td") || document.body;
      const link = Object.assign(document.createElement("a"), {id: "tiny", href: "#",
        textContent: "x"});
      Object.assign(link.style, {display: "inline", minHeight: "0", lineHeight: "1"});
      cell.append(link); }""")
    # Then the check reports it
    assert any(t.startswith("a#tiny") for t in measure(page)["targets"])


@pytest.mark.req("UI-TOUCH-002")
def test_the_measurement_finds_small_text(page: Page, live_server, demo):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "operator")
    page.goto(live_server.url + reverse("home"))
    page.evaluate("""() => { const note = Object.assign(document.createElement("p"),
        {id: "fine-print", textContent: "small"});
      note.style.fontSize = "14px"; document.querySelector("h1").after(note); }""")
    assert any(t.startswith("p#fine-print") for t in measure(page)["texts"])
