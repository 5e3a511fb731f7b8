"""The Administrator's main path: grant a role in the browser and approve it with a signature.

FND-UI-002: the sign dialog shows what is signed and its meaning and asks for the password;
the signed record then shows the manifestation (printed name, date and time, meaning).
FND-ACC-001: a role grant is an access change made in the UI by an Administrator, signed as
approved, and shown in the person's access history.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from mes.models import AccessChange, ElectronicSignature
from tests.mes.factories import PASSWORD, SiteFactory, person

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")


@pytest.fixture
def site(transactional_db):
    return SiteFactory(code="PLANT1", name="Plant One", time_zone="Europe/Amsterdam")


@pytest.fixture
def administrator(site, roles):
    return person("Administrator", sites=[site], username="admin1", full_name="Ada Admin")


@pytest.fixture
def operator(site, roles):
    return person("Operator", sites=[site], username="op1", full_name="Otto Operator")


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who-name")).to_be_visible()


def open_person(page: Page, full_name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_text("Administration", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="People & access").click()
    expect(page.get_by_role("heading", name="People & access")).to_be_visible()
    page.get_by_role("link", name=full_name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(full_name)


def ask_to_grant(page: Page, role: str, reason: str):
    """Fill the access-change form and open the sign dialog; return the dialog."""
    form = page.locator("#access-form")
    form.get_by_label("Action").select_option(label="Grant")
    form.get_by_label("Role").select_option(label=role)
    form.get_by_label("Reason").fill(reason)
    form.get_by_role("button", name="Continue to signature").click()
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    return dialog


@pytest.mark.req("FND-UI-002:dialog", "FND-UI-002:manifestation", "FND-ACC-001:history")
def test_administrator_grants_a_role_and_signs_it_as_approved(
    page: Page, live_server, administrator, operator, screenshot, browser_errors,
):
    # Given the Administrator logged in through the login page, on Otto's page
    log_in(page, live_server.url, "admin1")
    expect(page.locator(".who-name")).to_have_text("Ada Admin")
    screenshot("home")
    open_person(page, "Otto Operator")
    expect(page.locator("#person-roles .pill")).to_have_text(["Operator"])
    expect(page.locator("#access-history")).to_contain_text("No access changes recorded.")

    # When they ask to grant Supervisor with a reason
    dialog = ask_to_grant(page, "Supervisor", "Covers the night shift from Monday")
    screenshot("sign-dialog", full_page=False)

    # Then the dialog shows the person, the change, the reason, the signer and the meaning
    expect(dialog.locator(".dialog-head")).to_have_text("Approve access change")
    expect(dialog.locator(".summary dt")).to_have_text(["Person", "Change", "Reason"])
    expect(dialog.locator(".summary dd")).to_have_text(
        ["Otto Operator (op1)", "Grant role Supervisor", "Covers the night shift from Monday"])
    expect(dialog.locator(".meaning-banner")).to_contain_text("You are signing as Ada Admin")
    expect(dialog.locator(".sign-meaning")).to_have_text("Approved")
    expect(dialog.get_by_label("Password for admin1")).to_be_focused()
    assert dialog.evaluate("d => d.matches(':modal')"), "the sign dialog should be modal"
    assert not AccessChange.objects.exists()  # nothing happens before the signature

    # When they type their password and sign
    dialog.get_by_label("Password for admin1").fill(PASSWORD)
    before = datetime.now(UTC)
    dialog.get_by_role("button", name="Sign").click()

    # Then Otto's page shows the new role and the signed change in the access history
    expect(page.locator(".msg-success")).to_have_text(
        "Access change approved and signed for Otto Operator.")
    expect(page).to_have_url(f"{live_server.url}/people/{operator.pk}/")
    expect(page.locator("#dialog dialog")).to_have_count(0)
    expect(page.locator("#person-roles .pill")).to_have_text(["Operator", "Supervisor"])
    row = page.locator("#access-history tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("Grant role Supervisor")
    expect(row.locator("td").nth(2)).to_have_text("Covers the night shift from Monday")
    expect(row.locator("td").nth(3)).to_have_text("Ada Admin")
    manifestation = row.locator(".manifestation")
    expect(manifestation.locator(".sig-meaning")).to_have_text("Approved")
    expect(manifestation.locator(".sig-meaning")).to_have_css("text-transform", "uppercase")
    expect(manifestation.locator(".sig-name")).to_have_text("Ada Admin")
    expect(manifestation).to_contain_text("(admin1)")
    expect(manifestation.locator("time")).to_have_text(UTC_STAMP)
    screenshot("signed")

    signed_at = datetime.fromisoformat(manifestation.locator("time").get_attribute("datetime"))
    assert before - timedelta(seconds=1) <= signed_at <= datetime.now(UTC)
    change = AccessChange.objects.get()
    assert (change.user, change.action, change.role.name, change.requested_by) == (
        operator, AccessChange.Action.GRANT, "Supervisor", administrator)
    signature = ElectronicSignature.objects.get()
    assert (signature.object_id, signature.signer, signature.printed_name, signature.meaning) \
        == (change.pk, administrator, "Ada Admin", "approved")
    assert signed_at == signature.signed_at
    assert sorted(operator.groups.values_list("name", flat=True)) == ["Operator", "Supervisor"]
    assert browser_errors == []


@pytest.mark.req("FND-UI-002:dialog", "FND-ACC-001:signed-first")
def test_wrong_password_in_the_sign_dialog_changes_nothing(
    page: Page, live_server, administrator, operator, screenshot, browser_errors,
):
    # Given the Administrator has the sign dialog open for granting Supervisor to Otto
    log_in(page, live_server.url, "admin1")
    open_person(page, "Otto Operator")
    dialog = ask_to_grant(page, "Supervisor", "Covers the night shift from Monday")

    # When they sign with a wrong password
    dialog.get_by_label("Password for admin1").fill("not-my-password")
    dialog.get_by_role("button", name="Sign").click()

    # Then the dialog stays open with the error and the same summary, ready for another try
    error = page.locator("#dialog dialog.sign-dialog [role=alert]")
    expect(error).to_have_text("The password is not correct. Nothing was signed.")
    dialog = page.locator("#dialog dialog.sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".summary dd")).to_have_text(
        ["Otto Operator (op1)", "Grant role Supervisor", "Covers the night shift from Monday"])
    expect(dialog.get_by_label("Password for admin1")).to_have_value("")
    screenshot("wrong-password", full_page=False)

    # And nothing changed: no role, no access change, no signature, on the page or in the data
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#dialog dialog")).to_have_count(0)
    page.reload()
    expect(page.locator("#person-roles .pill")).to_have_text(["Operator"])
    expect(page.locator("#access-history")).to_contain_text("No access changes recorded.")
    screenshot("after-cancel")
    assert not AccessChange.objects.exists()
    assert not ElectronicSignature.objects.exists()
    assert list(operator.groups.values_list("name", flat=True)) == ["Operator"]
    # The refused signature answers 403, which Chromium logs; anything else is a fault.
    assert [e for e in browser_errors if "status of 403" not in e] == []
