"""Registering a terminal from the suite page: the browser gets the key in a long-lived,
HttpOnly, SameSite=Strict cookie (Secure in production), the key is shown once, and a
terminal is withdrawn with a reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling.models import Terminal
from scheduling.selectors import TERMINAL_COOKIE
from scheduling.services.terminals import key_hash, recognise, register_terminal
from tests.custody.factories import plant
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    ui_client,
)


def suite_page(world) -> str:
    return reverse("scheduling:suite-detail", args=[world.suite.pk])


def register_url(world) -> str:
    return reverse("scheduling:terminal-register", args=[world.suite.pk])


@pytest.fixture
def far_supervisor(world):
    return person("Supervisor", sites=[plant(code="PLANT2", fin="G2222")], username="sup-far")


@pytest.mark.req("SCH-TERM-003:suite-page")
def test_a_supervisor_sees_the_suites_terminals_and_the_register_button(world):
    terminal, _ = register_terminal(actor=world.supervisor, suite=world.suite, name="S1 left")
    html = ui_client(world.supervisor).get(suite_page(world)).content.decode()
    assert 'id="terminals"' in html and "S1 left" in html
    assert "Register this browser as a terminal of S1" in html
    assert reverse("scheduling:terminal-withdraw", args=[world.suite.pk, terminal.pk]) in html
    assert "This browser is not a registered terminal" in html
    planner = ui_client(world.planner).get(suite_page(world)).content.decode()
    assert 'id="terminals"' not in planner


@pytest.mark.req("SCH-TERM-003:access")
def test_the_register_page_needs_the_permission_and_the_site(world, far_supervisor):
    people = {NO_PERMISSION: world.op_a, OTHER_SITE: far_supervisor, ALLOWED: world.supervisor}
    assert_permission_matrix(ui_client, register_url(world), people, UI)
    refused_rows = {row: want for row, want in UI.items() if row != ALLOWED}
    assert_permission_matrix(ui_client, register_url(world), people, refused_rows,
                             method="post", data={"name": "S1 bench"},
                             state=lambda: Terminal.objects.count())


@pytest.mark.req("SCH-TERM-003:cookie", "SCH-TERM-003:shown-once")
def test_registering_sets_the_cookie_and_shows_the_key_once(world):
    client = ui_client(world.supervisor)
    response = client.post(register_url(world), {"name": "S1 bench left"})
    terminal = Terminal.objects.get()
    shown_url = reverse("scheduling:terminal-registered", args=[world.suite.pk, terminal.pk])
    assert response.status_code == 302 and response["Location"] == shown_url
    cookie = response.cookies[TERMINAL_COOKIE]
    assert key_hash(cookie.value) == terminal.key_hash and recognise(cookie.value) == terminal
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
    assert int(cookie["max-age"]) >= 365 * 24 * 3600
    assert cookie["path"] == "/" and not cookie["secure"]  # tests run without HTTPS
    page = client.get(shown_url)
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert 'id="terminal-secret"' in html and cookie.value in html and "X-MES-Terminal" in html
    again = client.get(shown_url).content.decode()
    assert cookie.value not in again and 'id="secret-gone"' in again
    # the browser is now the terminal: the suite page says so, and offers no second one
    suite = client.get(suite_page(world)).content.decode()
    assert "This browser is terminal “S1 bench left” of S1" in suite
    assert 'id="register-terminal"' not in suite
    blocked = client.post(register_url(world), {"name": "Another"})
    assert 'id="blocked"' in blocked.content.decode() and Terminal.objects.count() == 1


@pytest.mark.req("SCH-TERM-003:cookie")
def test_the_cookie_is_secure_in_production(world, settings):
    settings.SESSION_COOKIE_SECURE = True
    response = ui_client(world.supervisor).post(register_url(world), {"name": "S1 bench"})
    assert response.cookies[TERMINAL_COOKIE]["secure"] is True


@pytest.mark.req("SCH-TERM-003:shown-once")
def test_another_browser_never_sees_the_key(world):
    ui_client(world.supervisor).post(register_url(world), {"name": "S1 bench"})
    terminal = Terminal.objects.get()
    other = ui_client(world.supervisor)
    html = other.get(reverse("scheduling:terminal-registered",
                             args=[world.suite.pk, terminal.pk])).content.decode()
    assert 'id="terminal-secret"' not in html and 'id="secret-gone"' in html


@pytest.mark.req("SCH-TERM-003:errors")
def test_a_missing_or_taken_name_is_shown_at_the_field(world):
    client = ui_client(world.supervisor)
    empty = client.post(register_url(world), {"name": ""})
    assert empty.status_code == 400 and TERMINAL_COOKIE not in empty.cookies
    assert 'id="error-summary"' in empty.content.decode()
    assert 'href="#id_name"' in empty.content.decode()
    register_terminal(actor=world.supervisor, suite=world.suite, name="S1 bench")
    taken = client.post(register_url(world), {"name": "S1 bench"})
    html = taken.content.decode()
    assert taken.status_code == 409 and "already registered" in html and 'value="S1 bench"' in html
    assert TERMINAL_COOKIE not in taken.cookies and Terminal.objects.count() == 1


@pytest.mark.req("SCH-TERM-003:withdraw")
def test_a_terminal_is_withdrawn_with_a_reason_and_this_browser_forgets_it(world,
                                                                          far_supervisor):
    client = ui_client(world.supervisor)
    client.post(register_url(world), {"name": "S1 bench"})
    terminal = Terminal.objects.get()
    url = reverse("scheduling:terminal-withdraw", args=[world.suite.pk, terminal.pk])
    assert_permission_matrix(ui_client, url, {NO_PERMISSION: world.op_a,
                                              OTHER_SITE: far_supervisor,
                                              ALLOWED: world.supervisor}, UI)
    no_reason = client.post(url, {"reason": ""})
    assert no_reason.status_code == 400 and 'href="#id_reason"' in no_reason.content.decode()
    assert Terminal.objects.get().status == "active"
    done = client.post(url, {"reason": "Screen replaced"})
    assert done.status_code == 302 and done["Location"] == suite_page(world)
    assert done.cookies[TERMINAL_COOKIE].value == ""  # deleted
    stored = Terminal.objects.get()
    assert (stored.status, stored.withdrawn_reason) == ("withdrawn", "Screen replaced")
    html = client.get(url).content.decode()
    assert 'id="blocked"' in html and 'id="terminal-form"' not in html


@pytest.mark.req("SCH-TERM-003:suite-page")
def test_the_suite_page_keeps_its_queries_as_terminals_are_added(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from scheduling.services.terminals import withdraw_terminal

    client = ui_client(world.supervisor)
    client.post(register_url(world), {"name": "This browser"})

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(suite_page(world)).status_code == 200
        return len(captured.captured_queries)

    register_terminal(actor=world.supervisor, suite=world.suite, name="First")
    queries()
    one = queries()
    for n in range(5):
        terminal, _ = register_terminal(actor=world.supervisor, suite=world.suite,
                                        name=f"Bench {n}")
        if n % 2:
            withdraw_terminal(actor=world.supervisor, terminal=terminal, reason="Moved")
    assert queries() == one
