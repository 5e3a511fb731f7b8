"""Access changes: signed by an Administrator, never for oneself, shown in access history."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from mes.models import AccessChange, ElectronicSignature, Meaning, User
from mes.services import access
from tests.mes.factories import person
from tests.refusals import refused


@pytest.mark.req("FND-ACC-001:role")
def test_granting_a_role_is_a_signed_access_change(db, admin_user, operator, password):
    supervisor = Group.objects.get(name="Supervisor")
    change = access.change_access(actor=admin_user, password=password, user=operator,
                                  action="grant", role=supervisor, reason="Promoted")
    assert operator.groups.filter(name="Supervisor").exists()
    signature = ElectronicSignature.objects.get(object_id=change.pk)
    assert (signature.meaning, signature.signer) == (Meaning.APPROVED, admin_user)
    history = change.history.get()
    assert (history.history_user, history.history_change_reason) == (admin_user, "Promoted")


@pytest.mark.req("FND-ACC-001:role")
def test_revoking_a_role_is_a_signed_access_change_that_takes_it(db, admin_user, operator,
                                                                 password):
    change = access.change_access(actor=admin_user, password=password, user=operator,
                                  action="revoke", role=Group.objects.get(name="Operator"),
                                  reason="Moved to planning")
    assert not User.objects.get(pk=operator.pk).groups.filter(name="Operator").exists()
    signature = ElectronicSignature.objects.get(object_id=change.pk)
    assert (signature.meaning, signature.signer) == (Meaning.APPROVED, admin_user)
    assert change.history.get().history_change_reason == "Moved to planning"


@pytest.mark.req("FND-ACC-001:site")
def test_granting_and_revoking_a_site(db, admin_user, site, password):
    newcomer = person(username="new1", full_name="Nina New")
    access.change_access(actor=admin_user, password=password, user=newcomer, action="grant",
                         site=site, reason="Joins the plant")
    assert list(User.objects.get(pk=newcomer.pk).sites()) == [site]
    access.change_access(actor=admin_user, password=password, user=newcomer, action="revoke",
                         site=site, reason="Moved to another plant")
    assert not User.objects.get(pk=newcomer.pk).sites().exists()
    assert AccessChange.objects.filter(user=newcomer).count() == 2
    assert ElectronicSignature.objects.filter(signer=admin_user).count() == 2


@pytest.mark.req("FND-ACC-001:not-self")
def test_nobody_changes_their_own_access(db, admin_user, password):
    with refused("permission_denied"):
        access.change_access(actor=admin_user, password=password, user=admin_user,
                             action="grant", role=Group.objects.get(name="Qualified Person"),
                             reason="Why not")
    assert not AccessChange.objects.exists()


@pytest.mark.req("FND-ACC-001:administrator")
def test_only_an_administrator_changes_access(db, qa_user, operator, password):
    with refused("permission_denied"):
        access.change_access(actor=qa_user, password=password, user=operator, action="grant",
                             role=Group.objects.get(name="Supervisor"), reason="Helping")
    assert not operator.groups.filter(name="Supervisor").exists()


@pytest.mark.req("FND-ACC-001:reason", "FND-AUD-002:service")
def test_an_access_change_needs_a_reason(db, admin_user, operator, password):
    with refused("reason_required"):
        access.change_access(actor=admin_user, password=password, user=operator,
                             action="grant", role=Group.objects.get(name="Supervisor"),
                             reason="  ")
    assert not AccessChange.objects.exists()


@pytest.mark.req("FND-ACC-001:signed-first", "FND-SIG-004:password")
def test_a_wrong_password_changes_nothing(db, admin_user, operator):
    with refused("wrong_password", field="password"):
        access.change_access(actor=admin_user, password="bad", user=operator, action="grant",
                             role=Group.objects.get(name="Supervisor"), reason="Promoted")
    assert not AccessChange.objects.exists()
    assert not operator.groups.filter(name="Supervisor").exists()


@pytest.mark.req("FND-ACC-001:no-change")
def test_granting_what_is_already_held_is_refused(db, admin_user, operator, password):
    with refused("no_change", match="already has"):
        access.change_access(actor=admin_user, password=password, user=operator,
                             action="grant", role=Group.objects.get(name="Operator"),
                             reason="Again")
    assert not AccessChange.objects.exists()


@pytest.mark.req("FND-SCOPE-001:service")
def test_an_administrator_cannot_grant_a_site_they_do_not_have(db, admin_user, operator,
                                                               other_site, password):
    with refused("permission_denied"):
        access.change_access(actor=admin_user, password=password, user=operator,
                             action="grant", site=other_site, reason="Help out")
    assert not AccessChange.objects.exists()
    assert not operator.has_site(other_site)


@pytest.mark.req(
    "FND-ACC-001:signed-first", "FND-ACC-001:history", "FND-UI-002:dialog",
    "FND-UI-002:manifestation", "FND-SIG-001:shows")
def test_the_ui_flow_opens_the_sign_dialog_then_applies_and_shows_the_manifestation(
        client, admin_user, operator, password):
    client.force_login(admin_user)
    url = reverse("user-access", args=[operator.pk])
    role = Group.objects.get(name="Supervisor")
    form = {"action": "grant", "role": role.pk, "reason": "Promoted to supervisor"}
    dialog = client.post(url, form, HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200
    html = dialog.content.decode()
    assert "sign-dialog" in html and "Approved" in html and "Promoted to supervisor" in html
    assert not AccessChange.objects.exists()  # nothing happens before the signature
    wrong = client.post(url, {**form, "password": "bad"}, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 403 and "not correct" in wrong.content.decode()
    assert not AccessChange.objects.exists()
    done = client.post(url, {**form, "password": password}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    assert done["HX-Redirect"] == reverse("user-detail", args=[operator.pk])
    page = client.get(done["HX-Redirect"]).content.decode()
    assert "Promoted to supervisor" in page
    assert "APPROVED" in page.upper() and "Ada Admin" in page and "UTC" in page


@pytest.mark.req("FND-ACC-001:form")
def test_the_access_form_without_a_role_or_site_is_a_clear_400(client, admin_user, operator):
    client.force_login(admin_user)
    response = client.post(reverse("user-access", args=[operator.pk]),
                           {"action": "grant", "reason": "x"})
    assert response.status_code == 400
    assert "Choose either a role or a site" in response.content.decode()


@pytest.mark.req("FND-SCOPE-001:page")
def test_a_person_of_another_site_is_a_404(client, admin_user, other_site):
    stranger = person("Operator", sites=[other_site], username="far1", full_name="Far Away")
    client.force_login(admin_user)
    assert client.get(reverse("user-detail", args=[stranger.pk])).status_code == 404


@pytest.mark.req("FND-USR-001:unique-username")
def test_usernames_are_never_reused_even_in_another_case(db, admin_user, operator):
    with refused("username_taken", match="never reused"):
        access.create_user(actor=admin_user, username="OP1", full_name="Other Otto",
                           password="a-long-enough-pass-42")


@pytest.mark.req("FND-USR-001:deactivate")
def test_deactivation_needs_a_reason_and_keeps_the_account(client, admin_user, operator):
    client.force_login(admin_user)
    client.post(reverse("user-set-active", args=[operator.pk]), {"active": "0", "reason": ""})
    operator.refresh_from_db()
    assert operator.is_active
    client.post(reverse("user-set-active", args=[operator.pk]),
                {"active": "0", "reason": "Contract ended"})
    operator.refresh_from_db()
    assert not operator.is_active
    assert operator.history.first().history_change_reason == "Contract ended"


@pytest.mark.req("FND-USR-002:permissions")
def test_roles_exist_with_their_permissions(db, roles):
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Operator", "Supervisor", "QA Reviewer", "Qualified Person", "Planner", "Trainer",
            "Administrator"} <= names
    admin = Group.objects.get(name="Administrator")
    assert admin.permissions.filter(codename="approve_accesschange").exists()
    assert not Group.objects.get(name="Operator").permissions.filter(
        codename="approve_accesschange").exists()


@pytest.mark.req("FND-UI-001:home")
def test_the_home_page_is_role_aware(client, operator, qa_user, site):
    client.force_login(operator)
    page = client.get(reverse("home")).content.decode()
    assert site.name in page and "Security events" not in page
    client.force_login(qa_user)
    page = client.get(reverse("home")).content.decode()
    assert "Security events" in page


@pytest.mark.req("FND-UI-001:home")
def test_the_people_list_searches_and_keeps_a_constant_number_of_queries(
        client, admin_user, site, django_assert_max_num_queries):
    for i in range(40):
        person("Operator", sites=[site], username=f"crew{i}", full_name=f"Crew Member {i}")
    client.force_login(admin_user)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("user-list"))
    assert page.context["page"].paginator.count >= 40
    found = client.get(reverse("user-list"), {"q": "crew3"}).context["page"].object_list
    assert {p.username for p in found} == {"crew3", "crew30", "crew31", "crew32", "crew33",
                                           "crew34", "crew35", "crew36", "crew37", "crew38",
                                           "crew39"}


@pytest.mark.req("FND-SCOPE-001:list")
def test_the_people_list_holds_only_people_of_the_callers_sites(client, admin_user, operator,
                                                                other_site):
    person("Operator", sites=[other_site], username="far2", full_name="Far Faraway")
    client.force_login(admin_user)
    listed = {p.username for p in client.get(reverse("user-list")).context["page"].object_list}
    assert "op1" in listed and "far2" not in listed
    found = client.get(reverse("user-list"), {"q": "far"}).context["page"].object_list
    assert [p.username for p in found] == []


@pytest.mark.req("FND-USR-001:legal-name")
def test_an_account_needs_a_full_name(db, admin_user):
    before = User.objects.count()
    with refused("invalid", field="full_name"):
        access.create_user(actor=admin_user, username="nameless", full_name="  ",
                           password="a-long-enough-pass-42")
    assert User.objects.count() == before


@pytest.mark.req("FND-USR-002:groups")
def test_the_roles_are_created_by_the_data_migration(db):
    # no ``roles`` fixture: the groups are those migrate left in the database (a transactional
    # test's flush runs post_migrate again, which brings them back)
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Operator", "Supervisor", "QA Reviewer", "Qualified Person", "Planner", "Trainer",
            "Administrator"} <= names
    assert Group.objects.get(name="Administrator").permissions.filter(
        codename="approve_accesschange").exists()


@pytest.mark.req("FND-UI-001:home")
def test_the_home_page_shows_recent_activity(client, admin_user, operator, password):
    access.change_access(actor=admin_user, password=password, user=operator, action="grant",
                         role=Group.objects.get(name="Supervisor"), reason="Promoted")
    client.force_login(admin_user)
    page = client.get(reverse("home")).content.decode()
    assert "Your recent signatures" in page and "Approved" in page
    client.force_login(operator)
    page = client.get(reverse("home")).content.decode()
    assert "Grant role Supervisor" in page and "Ada Admin" in page


@pytest.mark.req("FND-UI-001:touch-targets")
def test_navigation_buttons_and_fields_are_at_least_44_px_high():
    import re
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "mes.css").read_text()
    rules = {selector.strip(): body for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)}
    for selector in (".mainnav a", ".btn", "input, select, textarea"):
        height = re.search(r"min-height:\s*(\d+)px", rules[selector])
        assert height and int(height.group(1)) >= 44, selector
