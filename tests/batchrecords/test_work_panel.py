"""The operator's home: the batches booked for today at their sites (at a registered terminal,
in its suite), each with the step due now and the way onto the terminal."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.selectors import TERMINAL_COOKIE
from scheduling.services.terminals import register_terminal
from tests.batchrecords.execution_kit import perform
from tests.mes.factories import person
from tests.scheduling.factories import make_suite

pytestmark = pytest.mark.django_db


def _home(client, user, secret=None) -> str:
    client.force_login(user)
    if secret:
        client.cookies[TERMINAL_COOKIE] = secret
    return client.get(reverse("home")).content.decode()


@pytest.mark.req("EBR-HOME-001:today")
def test_the_operator_home_lists_todays_batches_with_the_step_due_now(client, world):
    html = _home(client, world.operator)
    assert 'id="batches-to-work"' in html
    assert f'data-batch="{world.batch.number}"' in html
    assert "Next: R01 Verify the patient" in html
    terminal = _home(client, world.operator, world.terminal_secret)
    assert f'href="{reverse("batchrecords:terminal", args=[world.batch.pk])}"' in terminal
    # the step due now moves on with the batch
    perform(world, "R01")
    assert "Next: S01 Select CD4/CD8 cells" in _home(client, world.operator)


@pytest.mark.req("EBR-HOME-001:sites")
def test_a_person_at_another_site_does_not_see_the_batch(client, world, other_site):
    elsewhere = person("Operator", sites=[other_site], username="op-elsewhere")
    html = _home(client, elsewhere)
    assert f'data-batch="{world.batch.number}"' not in html


@pytest.mark.req("EBR-HOME-001:terminal")
def test_at_a_registered_terminal_only_its_suites_batches_are_listed(client, world):
    other = make_suite(world.admin, world.site, "S2")
    _, secret = register_terminal(actor=world.supervisor, suite=other, name="S2 bench")
    assert f'data-batch="{world.batch.number}"' in _home(client, world.operator,
                                                           world.terminal_secret)
    html = _home(client, world.operator, secret)
    assert f'data-batch="{world.batch.number}"' not in html
    assert "No batch is booked for today in S2" in html


@pytest.mark.req("EBR-HOME-001:first")
def test_the_batches_come_before_the_operators_history(client, world):
    html = _home(client, world.operator)
    first_other = min(html.index(text) for text in (
        "Your certifications", "Deviations you raised", "Your recent signatures")
        if text in html)
    assert html.index('id="batches-to-work"') < first_other


@pytest.mark.req("EBR-HOME-001:queries")
def test_the_panel_runs_the_same_queries_whatever_the_steps_done(client, world):
    client.force_login(world.operator)
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as before:
        client.get(reverse("home"))
    perform(world, "R01")
    perform(world, "S01")
    with CaptureQueriesContext(connection) as after:
        client.get(reverse("home"))
    assert len(after) == len(before)


@pytest.mark.req("EBR-HOME-001:not-terminal")
def test_a_device_that_is_not_a_terminal_says_so_and_offers_to_read_the_batch(client, world):
    html = _home(client, world.operator)

    assert 'id="not-a-terminal"' in html and "not a registered terminal" in html
    assert f'href="{reverse("batchrecords:batch-detail", args=[world.batch.pk])}"' in html
    assert f'href="{reverse("batchrecords:terminal", args=[world.batch.pk])}"' not in html
    at_terminal = _home(client, world.operator, world.terminal_secret)
    assert 'id="not-a-terminal"' not in at_terminal
