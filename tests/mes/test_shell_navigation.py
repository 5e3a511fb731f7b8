"""The top bar by role: at most seven top-level items, grouped in disclosure menus that work
by keyboard and touch, every page of the old flat navigation still reachable, and the one or
two actions a role does most as header buttons. The navigation is computed once a request."""

from __future__ import annotations

import pytest
from django.test.html import Element, parse_html
from django.urls import reverse

from mes.roles import ROLES
from tests.mes.factories import SiteFactory, person

# The flat navigation before it was grouped: (url name, permission needed or None).
FLAT_NAVIGATION = [
    ("home", None),
    ("training:matrix", "training.view_training_matrix"),
    ("training:sops", "training.view_sopdocument"),
    ("training:me", None),
    ("reagents:lot-list", "reagents.view_reagentlot"),
    ("reagents:receive", "reagents.receive_lot"),
    ("reagents:inventory", "reagents.view_reagentlot"),
    ("deviations:board", "deviations.view_board"),
    ("deviations:mine", "deviations.raise_deviation"),
    ("deviations:settings-index", "deviations.configure_escalation"),
    ("custody:patient-list", "custody.view_patient"),
    ("custody:scan", "custody.add_custodyevent"),
    ("custody:shipment-list", "custody.view_shipment"),
    ("user-list", "mes.view_user"),
    ("site-list", "mes.change_site"),
    ("security-events", "mes.view_securityevent"),
    ("inbox", None),
]

HEADER_ACTIONS = {
    "Operator": ["Scan", "Raise a deviation"],
    "Supervisor": ["Scan", "Deviation board"],
    "QA Reviewer": ["Deviation board", "Lots to release"],
    "Qualified Person": ["Deviation board"],
    "Planner": ["New order", "Patients"],
    "Trainer": ["Certifications", "SOPs"],
    "Administrator": ["People & access"],
}


def _find(element, predicate):
    if isinstance(element, str):
        return
    if predicate(element):
        yield element
    for child in element.children:
        yield from _find(child, predicate)


def _has_class(element: Element, name: str) -> bool:
    return name in dict(element.attributes).get("class", "").split()


def _text(element) -> str:
    if isinstance(element, str):
        return element
    return " ".join(_text(child) for child in element.children).strip()


def shell_of(client, user):
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    document = parse_html(response.content.decode())
    (nav,) = _find(document, lambda e: e.name == "nav" and _has_class(e, "mainnav"))
    (top,) = _find(nav, lambda e: e.name == "ul" and _has_class(e, "nav-top"))
    items = [child for child in top.children if not isinstance(child, str)]
    hrefs = [dict(a.attributes)["href"] for a in _find(nav, lambda e: e.name == "a")]
    actions = [
        _text(a) for a in _find(document, lambda e: e.name == "a" and _has_class(e, "btn-header"))
    ]
    return items, hrefs, actions, document


def role_person(role):
    return person(role, sites=[SiteFactory(code="PLANT1")], username=f"u-{role[:6]}".lower())


@pytest.mark.req("UI-NAV-001:count", "UI-NAV-001:reachable")
@pytest.mark.parametrize("role", ROLES)
def test_each_role_has_at_most_seven_top_level_items_and_keeps_every_page(client, roles, role):
    user = role_person(role)
    items, hrefs, _, _ = shell_of(client, user)
    assert all(item.name == "li" for item in items)
    assert 3 <= len(items) <= 7, f"{role}: {len(items)} top-level items"
    for url_name, permission in FLAT_NAVIGATION:
        if permission is None or user.has_perm(permission):
            assert reverse(url_name) in hrefs, f"{role} lost {url_name} from the navigation"


@pytest.mark.req("UI-NAV-001:groups")
def test_groups_are_disclosure_menus_and_a_group_of_one_is_a_plain_link(client, roles):
    qa = role_person("QA Reviewer")
    items, _, _, _ = shell_of(client, qa)
    groups = [d for item in items for d in _find(item, lambda e: e.name == "details")]
    # A <details> menu opens by Enter, Space or a tap on its <summary>: no hover needed.
    assert [_text(next(_find(g, lambda e: e.name == "summary"))) for g in groups] == [
        "Training",
        "Production",
        "Deviations",
        "Custody",
    ]
    for group in groups:
        assert len(list(_find(group, lambda e: e.name == "a"))) >= 2
    # QA's only kernel page is the security events: a link at the top, not a menu of one.
    top_links = [
        _text(a)
        for item in items
        for a in item.children
        if not isinstance(a, str) and a.name == "a"
    ]
    assert "Security events" in top_links
    assert "Administration" not in [_text(g) for g in groups]


@pytest.mark.req("UI-NAV-002")
@pytest.mark.parametrize("role", ROLES)
def test_the_roles_most_common_actions_are_header_buttons(client, roles, role):
    _, _, actions, _ = shell_of(client, role_person(role))
    assert actions == HEADER_ACTIONS[role]


@pytest.mark.req("UI-NAV-002")
def test_header_actions_lead_where_they_say(client, roles):
    planner = role_person("Planner")
    _, _, _, document = shell_of(client, planner)
    hrefs = {
        _text(a): dict(a.attributes)["href"]
        for a in _find(document, lambda e: e.name == "a" and _has_class(e, "btn-header"))
    }
    assert hrefs == {
        "New order": reverse("custody:order-create"),
        "Patients": reverse("custody:patient-list"),
    }
    client.force_login(planner)
    assert client.get(hrefs["New order"]).status_code == 200


@pytest.mark.req("UI-NAV-003")
def test_the_navigation_is_computed_once_per_request(client, roles, monkeypatch):
    from mes import ui

    calls = []
    real = ui.app_navigation
    monkeypatch.setattr(ui, "app_navigation", lambda user: calls.append(user) or real(user))
    qa = role_person("QA Reviewer")
    client.force_login(qa)
    # The home page renders its panels as templates of their own, each with the request.
    assert client.get(reverse("home")).status_code == 200
    assert len(calls) == 1
    calls.clear()
    client.get(reverse("deviations:board"))
    assert len(calls) == 1


@pytest.mark.req("UI-NAV-001:current")
def test_the_current_page_is_marked_in_the_navigation(client, roles):
    operator = role_person("Operator")
    client.force_login(operator)
    page = client.get(reverse("reagents:receive")).content.decode()
    assert f'<a href="{reverse("reagents:receive")}" aria-current="page">Receive</a>' in page
