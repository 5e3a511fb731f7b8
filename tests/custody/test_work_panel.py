"""The operator's home is "what to do now" (issue 13 item 7, UI.md): the handoffs the chain
expects next at their sites, longest waiting first, before anything else on the page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mes import identifiers
from tests.custody.factories import order_for
from tests.custody.test_pages import add_events
from tests.mes.factories import person


def _order(planner, site, clinical_site, n):
    return order_for(planner, manufacturing_site=site, ordering_site=clinical_site,
                     hospital_record_number=f"H-{n:04d}", full_name=f"Patient {n}").patient


@pytest.mark.req("UI-HOME-001:waiting")
def test_the_operator_home_lists_the_handoffs_waiting_at_their_sites_only(
        client, site, clinical_site, planner, roles):
    # given an operator at the plant and one at the clinic
    at_plant = person("Operator", sites=[site], username="op-plant")
    at_clinic = person("Operator", sites=[clinical_site], username="op-clinic")
    # a patient whose collection is due at the clinic, one stored at the plant
    fresh = _order(planner, site, clinical_site, 1)
    stored = _order(planner, site, clinical_site, 2)
    add_events(stored, at_plant, site, 2)  # removed, then stored: removal is expected next
    client.force_login(at_plant)
    plant_home = client.get(reverse("home")).content.decode()
    client.force_login(at_clinic)
    clinic_home = client.get(reverse("home")).content.decode()
    # then each sees what waits at their own site, with a scan button for that patient
    assert identifiers.coi_text(stored) not in plant_home  # the COI is shown eye-readable
    assert str(identifiers.coi(stored)) in plant_home and "Removed from storage" in plant_home
    assert f"?patient={stored.pk}" in plant_home
    assert str(identifiers.coi(fresh)) not in plant_home
    assert str(identifiers.coi(fresh)) in clinic_home and "Collected (apheresis)" in clinic_home
    assert str(identifiers.coi(stored)) not in clinic_home


@pytest.mark.req("UI-HOME-001:first")
def test_what_to_do_now_comes_before_the_operators_history(client, operator, patient):
    client.force_login(operator)
    html = client.get(reverse("home")).content.decode()
    assert 'id="work-waiting"' in html
    # before every other panel: the person's certifications, deviations, history
    first_other = min(html.index(text) for text in (
        "Your certifications", "Deviations you raised", "Your recent signatures"))
    assert html.index('id="work-waiting"') < first_other


@pytest.mark.req("UI-HOME-001:queries")
def test_the_operator_home_runs_the_same_queries_with_3_and_15_patients_waiting(
        client, site, clinical_site, planner, operator):
    for n in range(3):
        add_events(_order(planner, site, clinical_site, n), operator, site, 2)
    client.force_login(operator)
    client.get(reverse("home"))  # the session's first request does its own bookkeeping
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("home"))
    for n in range(3, 15):
        add_events(_order(planner, site, clinical_site, n), operator, site, 2)
    with CaptureQueriesContext(connection) as many:
        html = client.get(reverse("home")).content.decode()
    assert html.count('class="work-item"') == 12  # the twelve waiting longest
    assert len(many.captured_queries) == len(few.captured_queries)
